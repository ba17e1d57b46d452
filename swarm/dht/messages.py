"""Typed RPC messages and their wire codec.

Every frame is one msgpack array::

    [PROTOCOL_VERSION, type, rpc_id: bin(8), sender_key: bin(32), sender_address: str, *fields]

The sender's node id is not sent: the receiver derives it as SHA-256 of ``sender_key``, so a frame
cannot claim an id that does not belong to its key. (Proving possession of the key is the job of the
secured transport, CurveZMQ.) :func:`decode_frame` raises only :class:`~swarm.errors.ProtocolError`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, TypeVar

from swarm._wire import expect_type, pack, unpack_untrusted
from swarm.dht.ids import ID_BYTES, Contact
from swarm.errors import ProtocolError
from swarm.identity import PUBLIC_KEY_BYTES, id_of

__all__ = [
    "MAX_ADDRESS_CHARS",
    "MAX_CONTACTS",
    "MAX_FRAME_BYTES",
    "MAX_VALUE_BYTES",
    "PROTOCOL_VERSION",
    "RPC_ID_BYTES",
    "AppReply",
    "AppRequest",
    "Envelope",
    "ErrorReply",
    "FindNode",
    "FindValue",
    "FoundNodes",
    "FoundValue",
    "Message",
    "MsgType",
    "Ping",
    "Pong",
    "Record",
    "Store",
    "Stored",
    "decode_frame",
    "encode_frame",
]

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
MAX_VALUE_BYTES = 4096
MAX_SUBKEY_BYTES = 64
MAX_CONTACTS = 64
MAX_RECORDS = 128
MAX_ADDRESS_CHARS = 200
MAX_APP_TOPIC_CHARS = 64
RPC_ID_BYTES = 8
_T = TypeVar("_T")


class MsgType(IntEnum):
    PING = 1
    PONG = 2
    FIND_NODE = 3
    FOUND_NODES = 4
    STORE = 5
    STORED = 6
    FIND_VALUE = 7
    FOUND_VALUE = 8
    ERROR = 9
    APP_REQUEST = 10
    APP_REPLY = 11


@dataclass(frozen=True, slots=True)
class Record:
    """One value under a key. ``subkey`` separates the values many publishers keep under one key
    (a re-announce with the same subkey replaces the old value)."""

    subkey: bytes
    value: bytes
    ttl_s: int


class Message:
    """Base of every RPC body."""

    type: ClassVar[MsgType]
    is_request: ClassVar[bool]

    def fields(self) -> list[Any]:
        return []


@dataclass(frozen=True, slots=True)
class Ping(Message):
    type: ClassVar[MsgType] = MsgType.PING
    is_request: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Pong(Message):
    type: ClassVar[MsgType] = MsgType.PONG
    is_request: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class FindNode(Message):
    """Ask for the ``count`` contacts the receiver knows nearest ``target`` (k unless the asker has
    seen contacts fail and wants spares)."""

    type: ClassVar[MsgType] = MsgType.FIND_NODE
    is_request: ClassVar[bool] = True
    target: bytes
    count: int = 20

    def fields(self) -> list[Any]:
        return [self.target, self.count]


@dataclass(frozen=True, slots=True)
class FoundNodes(Message):
    type: ClassVar[MsgType] = MsgType.FOUND_NODES
    is_request: ClassVar[bool] = False
    contacts: tuple[Contact, ...]

    def fields(self) -> list[Any]:
        return [_contacts_out(self.contacts)]


@dataclass(frozen=True, slots=True)
class Store(Message):
    type: ClassVar[MsgType] = MsgType.STORE
    is_request: ClassVar[bool] = True
    key: bytes
    record: Record
    replicas: int = 0
    """How many nodes should hold records under ``key`` (0: the swarm's k), so that holders that
    push the record on (replication, hand-off, welcome) push it to as many nodes as its publisher."""

    def fields(self) -> list[Any]:
        head = [self.key, self.record.subkey, self.record.value, self.record.ttl_s]
        return [*head, self.replicas] if self.replicas else head


@dataclass(frozen=True, slots=True)
class Stored(Message):
    type: ClassVar[MsgType] = MsgType.STORED
    is_request: ClassVar[bool] = False
    ok: bool
    reason: str = ""

    def fields(self) -> list[Any]:
        return [self.ok, self.reason]


@dataclass(frozen=True, slots=True)
class FindValue(Message):
    type: ClassVar[MsgType] = MsgType.FIND_VALUE
    is_request: ClassVar[bool] = True
    key: bytes
    count: int = 20

    def fields(self) -> list[Any]:
        return [self.key, self.count]


@dataclass(frozen=True, slots=True)
class FoundValue(Message):
    """The records held under the key (possibly none) and, to continue the lookup, closer contacts."""

    type: ClassVar[MsgType] = MsgType.FOUND_VALUE
    is_request: ClassVar[bool] = False
    records: tuple[Record, ...]
    contacts: tuple[Contact, ...]

    def fields(self) -> list[Any]:
        return [[[r.subkey, r.value, r.ttl_s] for r in self.records], _contacts_out(self.contacts)]


@dataclass(frozen=True, slots=True)
class ErrorReply(Message):
    type: ClassVar[MsgType] = MsgType.ERROR
    is_request: ClassVar[bool] = False
    code: str
    message: str

    def fields(self) -> list[Any]:
        return [self.code, self.message]


@dataclass(frozen=True, slots=True)
class AppRequest(Message):
    """An opaque request for a protocol layered on the DHT (semantic routing), dispatched by ``topic``."""

    type: ClassVar[MsgType] = MsgType.APP_REQUEST
    is_request: ClassVar[bool] = True
    topic: str
    payload: bytes

    def fields(self) -> list[Any]:
        return [self.topic, self.payload]


@dataclass(frozen=True, slots=True)
class AppReply(Message):
    type: ClassVar[MsgType] = MsgType.APP_REPLY
    is_request: ClassVar[bool] = False
    payload: bytes

    def fields(self) -> list[Any]:
        return [self.payload]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded frame: who sent it, which RPC it belongs to, and the message."""

    rpc_id: bytes
    sender_key: bytes
    sender_address: str
    message: Message

    @property
    def sender(self) -> Contact:
        return Contact(_node_id_of(self.sender_key), self.sender_address)


@functools.lru_cache(maxsize=8192)
def _node_id_of(key: bytes) -> bytes:
    """:func:`~swarm.identity.id_of`, remembered: every frame names its sender's key, and hashing it
    again for every frame from the same few peers was a measurable share of an RPC's CPU."""
    return id_of(key)


def encode_frame(envelope: Envelope) -> bytes:
    m = envelope.message
    frame = [PROTOCOL_VERSION, int(m.type), envelope.rpc_id, envelope.sender_key, envelope.sender_address]
    data = pack(frame + m.fields())
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"{m.type.name} frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
    return data


def decode_frame(data: bytes) -> Envelope:
    """Parse untrusted bytes. Raises only :class:`ProtocolError`."""
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
    items = unpack_untrusted(data, ProtocolError)
    if not isinstance(items, list) or len(items) < 5 or type(items[0]) is not int:
        raise ProtocolError("not an RPC frame")
    if items[0] != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {items[0]} is not supported (this build: {PROTOCOL_VERSION})")
    _, kind, rpc_id, key, address, *rest = items
    envelope_fields = (
        _bin(rpc_id, "rpc id", exact=RPC_ID_BYTES),
        _bin(key, "sender key", exact=PUBLIC_KEY_BYTES),
        _address(address),
    )
    try:
        msg_type = MsgType(kind)
    except ValueError:
        raise ProtocolError(f"unknown message type {kind!r}") from None
    return Envelope(*envelope_fields, _DECODERS[msg_type](rest))


# --- decoding helpers: every check raises ProtocolError -------------------------------------------


def _typed(value: object, kind: type[_T], name: str) -> _T:
    return expect_type(value, kind, name, ProtocolError)


def _bin(value: object, name: str, *, exact: int | None = None, most: int | None = None) -> bytes:
    data = _typed(value, bytes, name)
    if exact is not None and len(data) != exact:
        raise ProtocolError(f"{name}: expected {exact} bytes, got {len(data)}")
    if most is not None and len(data) > most:
        raise ProtocolError(f"{name}: over {most} bytes")
    return data


def _address(value: object) -> str:
    text = _typed(value, str, "address")
    if len(text) > MAX_ADDRESS_CHARS or "://" not in text:
        raise ProtocolError("address: expected a ZeroMQ endpoint like tcp://host:port")
    return text


def _arity(rest: list[Any], n: int, name: str) -> list[Any]:
    if len(rest) != n:
        raise ProtocolError(f"{name}: expected {n} fields, got {len(rest)}")
    return rest


def _contacts_out(contacts: tuple[Contact, ...]) -> list[list[Any]]:
    return [[c.node_id, c.address] for c in contacts]


def _contacts_in(value: object) -> tuple[Contact, ...]:
    # The hottest decoder (every FIND_NODE answer carries up to k contacts): the checks of _bin and
    # _address, inlined.
    items = _typed(value, list, "contacts")
    if len(items) > MAX_CONTACTS:
        raise ProtocolError(f"contacts: more than {MAX_CONTACTS}")
    out = []
    for pair in items:
        if type(pair) is not list or len(pair) != 2:
            raise ProtocolError("contact: expected [node_id, address]")
        node_id, address = pair
        if type(node_id) is not bytes or len(node_id) != ID_BYTES:
            raise ProtocolError(f"contact id: expected {ID_BYTES} bytes")
        if type(address) is not str or len(address) > MAX_ADDRESS_CHARS or "://" not in address:
            raise ProtocolError("address: expected a ZeroMQ endpoint like tcp://host:port")
        out.append(Contact(node_id, address))
    return tuple(out)


def _record_in(subkey: object, value: object, ttl: object) -> Record:
    ttl_s = _typed(ttl, int, "ttl")
    if not 0 < ttl_s <= 7 * 24 * 3600:
        raise ProtocolError("ttl: out of range")
    return Record(
        _bin(subkey, "subkey", most=MAX_SUBKEY_BYTES), _bin(value, "value", most=MAX_VALUE_BYTES), ttl_s
    )


def _records_in(value: object) -> tuple[Record, ...]:
    items = _typed(value, list, "records")
    if len(items) > MAX_RECORDS:
        raise ProtocolError(f"records: more than {MAX_RECORDS}")
    out = []
    for item in items:
        triple = _typed(item, list, "record")
        if len(triple) != 3:
            raise ProtocolError("record: expected [subkey, value, ttl]")
        out.append(_record_in(*triple))
    return tuple(out)


def _target_and_count(rest: list[Any], name: str) -> tuple[bytes, int]:
    target, count = _arity(rest, 2, name)
    wanted = _typed(count, int, "count")
    if not 1 <= wanted <= MAX_CONTACTS:
        raise ProtocolError(f"count: not in 1..{MAX_CONTACTS}")
    return _bin(target, "target", exact=ID_BYTES), wanted


def _decode_store(rest: list[Any]) -> Store:
    key, subkey, value, ttl, *more = _arity(rest, len(rest) if len(rest) in (4, 5) else 4, "STORE")
    replicas = _typed(more[0], int, "replicas") if more else 0
    if not 0 <= replicas <= MAX_CONTACTS:
        raise ProtocolError(f"replicas: not in 0..{MAX_CONTACTS}")
    return Store(_bin(key, "key", exact=ID_BYTES), _record_in(subkey, value, ttl), replicas)


def _decode_found_value(rest: list[Any]) -> FoundValue:
    records, contacts = _arity(rest, 2, "FOUND_VALUE")
    return FoundValue(_records_in(records), _contacts_in(contacts))


def _decode_stored(rest: list[Any]) -> Stored:
    ok, reason = _arity(rest, 2, "STORED")
    return Stored(_typed(ok, bool, "ok"), _typed(reason, str, "reason")[:200])


def _decode_app_request(rest: list[Any]) -> AppRequest:
    topic, payload = _arity(rest, 2, "APP_REQUEST")
    topic_text = _typed(topic, str, "topic")
    if len(topic_text) > MAX_APP_TOPIC_CHARS:
        raise ProtocolError("topic: too long")
    return AppRequest(topic_text, _bin(payload, "payload"))


def _decode_error(rest: list[Any]) -> ErrorReply:
    code, message = _arity(rest, 2, "ERROR")
    return ErrorReply(_typed(code, str, "code")[:64], _typed(message, str, "message")[:500])


_DECODERS: dict[MsgType, Any] = {
    MsgType.PING: lambda rest: (_arity(rest, 0, "PING"), Ping())[1],
    MsgType.PONG: lambda rest: (_arity(rest, 0, "PONG"), Pong())[1],
    MsgType.FIND_NODE: lambda rest: FindNode(*_target_and_count(rest, "FIND_NODE")),
    MsgType.FOUND_NODES: lambda rest: FoundNodes(_contacts_in(_arity(rest, 1, "FOUND_NODES")[0])),
    MsgType.STORE: _decode_store,
    MsgType.STORED: _decode_stored,
    MsgType.FIND_VALUE: lambda rest: FindValue(*_target_and_count(rest, "FIND_VALUE")),
    MsgType.FOUND_VALUE: _decode_found_value,
    MsgType.ERROR: _decode_error,
    MsgType.APP_REQUEST: _decode_app_request,
    MsgType.APP_REPLY: lambda rest: AppReply(_bin(_arity(rest, 1, "APP_REPLY")[0], "payload")),
}
