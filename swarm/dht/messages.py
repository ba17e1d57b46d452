"""Typed RPC messages and their wire codec.

Every frame (protocol version 2) is one msgpack array of two items, the version and the message::

    [PROTOCOL_VERSION, [type, rpc_id: bin(8), sender_key: bin(32), sender_address: str, *fields]]

The message array starts with its :class:`MsgType` so that :func:`decode_frame` can read the whole
frame in one pass of msgspec (a tagged union of array-like structs, validated in C). A message's
fields, after the envelope's three:

==============  ====================================================================================
PING, PONG      (none)
FIND_NODE       target: bin(32), count: int 1..MAX_CONTACTS
FOUND_NODES     contacts: [[node_id: bin(32), address: str], ...] (at most MAX_CONTACTS)
STORE           key: bin(32), subkey: bin(<=64), value: bin(<=MAX_VALUE_BYTES), ttl_s: int
                1..7 days, and optionally replicas: int 0..MAX_CONTACTS (absent: 0)
STORED          ok: bool, reason: str (cut to 200 characters)
STORE_MANY      items: [[key, subkey, value, ttl_s, replicas], ...] (1..MAX_RECORDS, each as STORE's)
STORED_MANY     results: [[ok, reason], ...], one per item, in order
FIND_VALUE      key: bin(32), count: int 1..MAX_CONTACTS
FOUND_VALUE     records: [[subkey, value, ttl_s], ...] (at most MAX_RECORDS), contacts
ERROR           code: str (cut to 64 characters), message: str (cut to 500)
APP_REQUEST     topic: str (<=64 characters), payload: bin
APP_REPLY       payload: bin
==============  ====================================================================================

Addresses are ZeroMQ endpoints (``scheme://...``) of at most MAX_ADDRESS_CHARS characters. Integers
and booleans are strict (``true`` is not an int, ``1`` is not a bool) and a message has exactly its
fields. Version 1 frames (``[1, type, rpc_id, ...]``, one flat array) are refused with a
:class:`~synthswarm.swarm.errors.ProtocolError` naming the version.

The sender's node id is not sent: the receiver derives it as SHA-256 of ``sender_key``, so a frame
cannot claim an id that does not belong to its key. (Proving possession of the key is the job of the secured
transport, CurveZMQ.) :func:`decode_frame` raises only :class:`~synthswarm.swarm.errors.ProtocolError`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import IntEnum
from itertools import starmap
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta

from synthswarm.swarm.dht.ids import ID_BYTES, Contact
from synthswarm.swarm.errors import ProtocolError
from synthswarm.swarm.identity import PUBLIC_KEY_BYTES, id_of

__all__ = [
    "MAX_ADDRESS_CHARS",
    "MAX_CONTACTS",
    "MAX_FRAME_BYTES",
    "MAX_RECORDS",
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
    "StoreMany",
    "Stored",
    "StoredMany",
    "decode_frame",
    "encode_frame",
]

PROTOCOL_VERSION = 2
MAX_FRAME_BYTES = 64 * 1024
MAX_VALUE_BYTES = 4096
MAX_SUBKEY_BYTES = 64
MAX_CONTACTS = 64
MAX_RECORDS = 128
MAX_ADDRESS_CHARS = 200
MAX_APP_TOPIC_CHARS = 64
MAX_TTL_S = 7 * 24 * 3600
RPC_ID_BYTES = 8


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
    STORE_MANY = 12
    STORED_MANY = 13


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
class StoreMany(Message):
    """Several STOREs for one holder in one request (records under several keys, or many under
    one): what a node pushes to a newcomer, hands off, or replicates. Answered by STORED_MANY."""

    type: ClassVar[MsgType] = MsgType.STORE_MANY
    is_request: ClassVar[bool] = True
    items: tuple[Store, ...]

    def fields(self) -> list[Any]:
        return [[[i.key, i.record.subkey, i.record.value, i.record.ttl_s, i.replicas] for i in self.items]]


@dataclass(frozen=True, slots=True)
class StoredMany(Message):
    type: ClassVar[MsgType] = MsgType.STORED_MANY
    is_request: ClassVar[bool] = False
    results: tuple[Stored, ...]

    def fields(self) -> list[Any]:
        return [[[r.ok, r.reason] for r in self.results]]


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
    """An opaque request for a protocol layered on the DHT (semantic routing), dispatched by ``topic``.

    ``trace`` is the W3C ``traceparent`` of the span that sent it ("" when untraced), so the handler's
    spans join the sender's trace (:mod:`synthswarm.swarm.telemetry`). It rides in the envelope, never in a
    signed packet, and is left off the wire when empty: an untraced request is byte for byte what it
    was before the field existed, and a node that does not know the field ignores it."""

    type: ClassVar[MsgType] = MsgType.APP_REQUEST
    is_request: ClassVar[bool] = True
    topic: str
    payload: bytes
    trace: str = ""

    def fields(self) -> list[Any]:
        return [self.topic, self.payload, self.trace] if self.trace else [self.topic, self.payload]


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
    """:func:`~synthswarm.swarm.identity.id_of`, remembered: every frame names its sender's key, and hashing
    it again for every frame from the same few peers was a measurable share of an RPC's CPU."""
    return id_of(key)


def encode_frame(envelope: Envelope) -> bytes:
    m = envelope.message
    message = [int(m.type), envelope.rpc_id, envelope.sender_key, envelope.sender_address, *m.fields()]
    data = _ENCODER.encode((PROTOCOL_VERSION, message))
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"{m.type.name} frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
    return data


def decode_frame(data: bytes) -> Envelope:
    """Parse untrusted bytes. Raises only :class:`ProtocolError`."""
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        version, frame = _DECODER.decode(data)
    # The C decoder signals bad input with msgspec.DecodeError or ValidationError; whatever else it
    # might raise on garbage means "malformed" too, and must not escape as anything but ProtocolError.
    except Exception as exc:
        raise _rejection(data, exc) from exc
    if version != PROTOCOL_VERSION:
        raise _version_error(version)
    if "://" not in frame.sender_address:
        raise ProtocolError(f"sender_address: {_ENDPOINT}")
    return Envelope(frame.rpc_id, frame.sender_key, frame.sender_address, frame.as_message())


# --- the wire types: msgspec checks all but "://" in addresses (a Python `in` is ~5x cheaper than
# msgspec's regex `pattern`, on the hottest path: contacts) ---------------------------------------

_Id = Annotated[bytes, Meta(min_length=ID_BYTES, max_length=ID_BYTES)]
_RpcId = Annotated[bytes, Meta(min_length=RPC_ID_BYTES, max_length=RPC_ID_BYTES)]
_PublicKey = Annotated[bytes, Meta(min_length=PUBLIC_KEY_BYTES, max_length=PUBLIC_KEY_BYTES)]
_Address = Annotated[str, Meta(max_length=MAX_ADDRESS_CHARS)]
_Count = Annotated[int, Meta(ge=1, le=MAX_CONTACTS)]
_Contacts = Annotated[tuple[Contact, ...], Meta(max_length=MAX_CONTACTS)]
"""Decoded straight into :class:`Contact` named tuples; :func:`_contacts` checks their fields."""
_Subkey = Annotated[bytes, Meta(max_length=MAX_SUBKEY_BYTES)]
_Value = Annotated[bytes, Meta(max_length=MAX_VALUE_BYTES)]
_Ttl = Annotated[int, Meta(ge=1, le=MAX_TTL_S)]
_Records = Annotated[tuple[tuple[_Subkey, _Value, _Ttl], ...], Meta(max_length=MAX_RECORDS)]
_Replicas = Annotated[int, Meta(ge=0, le=MAX_CONTACTS)]
_StoreItems = Annotated[
    tuple[tuple[_Id, _Subkey, _Value, _Ttl, _Replicas], ...], Meta(min_length=1, max_length=MAX_RECORDS)
]
_StoreResults = Annotated[tuple[tuple[bool, str], ...], Meta(max_length=MAX_RECORDS)]
_Topic = Annotated[str, Meta(max_length=MAX_APP_TOPIC_CHARS)]

_ENDPOINT = "expected a ZeroMQ endpoint like tcp://host:port"


def _contacts_out(contacts: tuple[Contact, ...]) -> list[list[Any]]:
    return [[c.node_id, c.address] for c in contacts]


def _contacts(contacts: tuple[Contact, ...], message: str) -> tuple[Contact, ...]:
    # msgspec builds the Contacts (named tuples) in C and checks their types; their sizes are
    # checked here, as building wire-only tuples first and copying them cost more.
    for c in contacts:
        if len(c.node_id) != ID_BYTES:
            raise ProtocolError(f"{message} contacts: an id of {len(c.node_id)} bytes, not {ID_BYTES}")
        if len(c.address) > MAX_ADDRESS_CHARS or "://" not in c.address:
            raise ProtocolError(f"{message} contacts: address {_ENDPOINT}")
    return contacts


class _Frame(msgspec.Struct, array_like=True, forbid_unknown_fields=True, tag_field="type", gc=False):
    """The message array of a frame: the type (the union's tag), the envelope, the message's fields."""

    rpc_id: _RpcId
    sender_key: _PublicKey
    sender_address: _Address

    def as_message(self) -> Message:
        raise NotImplementedError


class _PingFrame(_Frame, tag=int(MsgType.PING)):
    def as_message(self) -> Ping:
        return Ping()


class _PongFrame(_Frame, tag=int(MsgType.PONG)):
    def as_message(self) -> Pong:
        return Pong()


class _FindNodeFrame(_Frame, tag=int(MsgType.FIND_NODE)):
    target: _Id
    count: _Count

    def as_message(self) -> FindNode:
        return FindNode(self.target, self.count)


class _FoundNodesFrame(_Frame, tag=int(MsgType.FOUND_NODES)):
    contacts: _Contacts

    def as_message(self) -> FoundNodes:
        return FoundNodes(_contacts(self.contacts, "FOUND_NODES"))


class _StoreFrame(_Frame, tag=int(MsgType.STORE)):
    key: _Id
    subkey: _Subkey
    value: _Value
    ttl_s: _Ttl
    replicas: _Replicas = 0

    def as_message(self) -> Store:
        return Store(self.key, Record(self.subkey, self.value, self.ttl_s), self.replicas)


class _StoredFrame(_Frame, tag=int(MsgType.STORED)):
    ok: bool
    reason: str

    def as_message(self) -> Stored:
        return Stored(self.ok, self.reason[:200])


class _StoreManyFrame(_Frame, tag=int(MsgType.STORE_MANY)):
    items: _StoreItems

    def as_message(self) -> StoreMany:
        return StoreMany(tuple(Store(k, Record(s, v, t), r) for k, s, v, t, r in self.items))


class _StoredManyFrame(_Frame, tag=int(MsgType.STORED_MANY)):
    results: _StoreResults

    def as_message(self) -> StoredMany:
        return StoredMany(tuple(Stored(ok, reason[:200]) for ok, reason in self.results))


class _FindValueFrame(_Frame, tag=int(MsgType.FIND_VALUE)):
    key: _Id
    count: _Count

    def as_message(self) -> FindValue:
        return FindValue(self.key, self.count)


class _FoundValueFrame(_Frame, tag=int(MsgType.FOUND_VALUE)):
    records: _Records
    contacts: _Contacts

    def as_message(self) -> FoundValue:
        return FoundValue(tuple(starmap(Record, self.records)), _contacts(self.contacts, "FOUND_VALUE"))


class _ErrorFrame(_Frame, tag=int(MsgType.ERROR)):
    code: str
    message: str

    def as_message(self) -> ErrorReply:
        return ErrorReply(self.code[:64], self.message[:500])


class _AppRequestFrame(_Frame, tag=int(MsgType.APP_REQUEST)):
    topic: _Topic
    payload: bytes
    trace: str = ""  # unchecked here: synthswarm.swarm.telemetry ignores a malformed one

    def as_message(self) -> AppRequest:
        return AppRequest(self.topic, self.payload, self.trace)


class _AppReplyFrame(_Frame, tag=int(MsgType.APP_REPLY)):
    payload: bytes

    def as_message(self) -> AppReply:
        return AppReply(self.payload)


_AnyFrame = (
    _PingFrame
    | _PongFrame
    | _FindNodeFrame
    | _FoundNodesFrame
    | _StoreFrame
    | _StoredFrame
    | _FindValueFrame
    | _FoundValueFrame
    | _ErrorFrame
    | _AppRequestFrame
    | _AppReplyFrame
    | _StoreManyFrame
    | _StoredManyFrame
)
_DECODER = msgspec.msgpack.Decoder(tuple[int, _AnyFrame])
_ENCODER = msgspec.msgpack.Encoder()
#: The names of a message array's items by type, to say which one a ValidationError is about.
_ITEM_NAMES: dict[object, tuple[str, ...]] = {
    f.__struct_config__.tag: ("type", *f.__struct_fields__) for f in _Frame.__subclasses__()
}
_ITEM_PATH = re.compile(r"at `\$\[1\]\[(\d+)\]")


# --- the error path: worth a second look at the bytes to say what is wrong ------------------------


def _version_error(version: object) -> ProtocolError:
    return ProtocolError(f"protocol version {version!r} is not supported (this build: {PROTOCOL_VERSION})")


def _rejection(data: bytes, exc: Exception) -> ProtocolError:
    """The ProtocolError for a frame the decoder refused: a frame of another version says so; a
    ValidationError is prefixed with the message type and the name of the offending item."""
    if not isinstance(exc, msgspec.ValidationError):
        return ProtocolError(f"not valid msgpack: {type(exc).__name__}: {exc}")
    try:
        items: Any = msgspec.msgpack.decode(data)
    except Exception:  # valid up to where validation stopped, not after: nothing more to say
        items = None
    if type(items) is not list or not items or type(items[0]) is not int:
        return ProtocolError(f"not an RPC frame: {exc}")
    if items[0] != PROTOCOL_VERSION:
        return _version_error(items[0])
    if len(items) != 2 or type(items[1]) is not list:
        return ProtocolError(f"not an RPC frame: {exc}")
    kind = items[1][0] if items[1] else None
    if type(kind) is not int or kind not in _ITEM_NAMES:
        return ProtocolError(f"unknown message type {kind!r}")
    names = _ITEM_NAMES[kind]
    where = _ITEM_PATH.search(str(exc))
    item = int(where[1]) if where else len(names)
    field = f" {names[item]}" if item < len(names) else ""
    return ProtocolError(f"{MsgType(kind).name}{field}: {exc}")
