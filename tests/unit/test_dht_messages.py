from __future__ import annotations

import contextlib
import re

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import (
    MAX_ADDRESS_CHARS,
    MAX_CONTACTS,
    MAX_FRAME_BYTES,
    MAX_VALUE_BYTES,
    PROTOCOL_VERSION,
    AppReply,
    AppRequest,
    Envelope,
    ErrorReply,
    FindNode,
    FindValue,
    FoundNodes,
    FoundValue,
    Message,
    Ping,
    Pong,
    Record,
    Store,
    Stored,
    StoredMany,
    StoreMany,
    decode_frame,
    encode_frame,
)
from synthswarm.swarm.errors import ProtocolError
from synthswarm.swarm.identity import Identity
from tests.unit.strategies import msgpack_values

ME = Identity.from_seed(b"\x05" * 32)
PEER = Contact(b"\x07" * 32, "tcp://10.0.0.7:4000")

MESSAGES: list[Message] = [
    Ping(),
    Pong(),
    FindNode(b"\x01" * 32),
    FindNode(b"\x01" * 32, count=64),
    FoundNodes((PEER, Contact(b"\x08" * 32, "inproc://x"))),
    Store(b"\x02" * 32, Record(b"sub", b"value", 60)),
    Store(b"\x02" * 32, Record(b"sub", b"value", 60), replicas=8),
    Stored(True),
    Stored(False, "store is full"),
    FindValue(b"\x03" * 32),
    FoundValue((Record(b"", b"v", 5),), ()),
    FoundValue((), (PEER,)),
    ErrorReply("unknown-topic", "x"),
    AppRequest("semantic.publish", b"\x00payload"),
    AppReply(b"ok"),
    StoreMany((Store(b"\x02" * 32, Record(b"a", b"v", 60)), Store(b"\x04" * 32, Record(b"", b"w", 9), 8))),
    StoredMany((Stored(True), Stored(False, "too many records under this key"))),
]


def envelope(message: Message) -> Envelope:
    return Envelope(b"\x09" * 8, ME.public_key, "tcp://127.0.0.1:5000", message)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    decoded = decode_frame(encode_frame(envelope(message)))
    assert decoded == envelope(message)
    assert decoded.sender.node_id == ME.id


RPC_ID, KEY, ADDRESS, ID = b"\x09" * 8, b"\x05" * 32, "tcp://h:1", b"\x01" * 32
HEAD = (RPC_ID, KEY, ADDRESS)


def frame(kind: object, *items: object, version: int = PROTOCOL_VERSION) -> bytes:
    """A hand-made frame: ``[version, [kind, *items]]``."""
    return msgpack.packb([version, [kind, *items]], use_bin_type=True)


def test_the_wire_layout() -> None:
    data = encode_frame(envelope(FindNode(ID, 7)))
    assert msgpack.unpackb(data) == [2, [3, b"\x09" * 8, ME.public_key, "tcp://127.0.0.1:5000", ID, 7]]
    assert decode_frame(frame(3, *HEAD, ID, 7)).message == FindNode(ID, 7)


def test_store_replicas_are_optional_on_the_wire() -> None:
    plain = msgpack.unpackb(encode_frame(envelope(Store(ID, Record(b"s", b"v", 60)))))
    assert len(plain[1]) == 8
    assert decode_frame(frame(5, *HEAD, ID, b"s", b"v", 60)).message == Store(ID, Record(b"s", b"v", 60), 0)
    assert decode_frame(frame(5, *HEAD, ID, b"s", b"v", 60, 9)).message == Store(
        ID, Record(b"s", b"v", 60), 9
    )


def test_long_texts_are_cut() -> None:
    assert decode_frame(frame(6, *HEAD, False, "r" * 1000)).message == Stored(False, "r" * 200)
    assert decode_frame(frame(9, *HEAD, "c" * 100, "m" * 1000)).message == ErrorReply("c" * 64, "m" * 500)


def test_limits_are_inclusive() -> None:
    longest = "tcp://" + "h" * (MAX_ADDRESS_CHARS - 6)
    week = 7 * 24 * 3600
    ok = [
        frame(1, RPC_ID, KEY, longest),
        frame(3, *HEAD, ID, 1),
        frame(3, *HEAD, ID, MAX_CONTACTS),
        frame(4, *HEAD, [[ID, longest]] * MAX_CONTACTS),
        frame(5, *HEAD, ID, b"s" * 64, b"v" * MAX_VALUE_BYTES, week, MAX_CONTACTS),
        frame(8, *HEAD, [[b"", b"", 1]] * 128, []),
        frame(10, *HEAD, "t" * 64, b""),
    ]
    for data in ok:
        decode_frame(data)
    assert decode_frame(frame(1, RPC_ID, KEY, "é" * 197 + "://")).sender_address.endswith("://")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "msgpack"),
        (b"\xc1", "msgpack"),
        (frame(1, *HEAD)[:-3], "truncated"),
        (frame(1, *HEAD) + b"\x00", "trailing"),
        (msgpack.packb("frame"), "not an RPC frame"),
        (msgpack.packb([]), "not an RPC frame"),
        (msgpack.packb([2]), "not an RPC frame"),
        (msgpack.packb([2, []]), "unknown message type"),
        (msgpack.packb([2, 1]), "not an RPC frame"),
        (msgpack.packb([2, [1, *HEAD], 3]), "not an RPC frame"),
        (msgpack.packb([True, [1, *HEAD]]), "not an RPC frame"),
        # another protocol version, in this layout or version 1's flat one
        (frame(1, *HEAD, version=3), "version 3 is not supported"),
        (frame(3, *HEAD, ID, 999, version=3), "version 3 is not supported"),
        (msgpack.packb([1, 1, RPC_ID, KEY, ADDRESS], use_bin_type=True), "version 1 is not supported"),
        (msgpack.packb([1, 2, RPC_ID, KEY, ADDRESS], use_bin_type=True), "version 1 is not supported"),
        (msgpack.packb([9, 1, RPC_ID, KEY, ADDRESS]), "version 9 is not supported"),
        (frame(99, *HEAD), "unknown message type 99"),
        (frame(0, *HEAD), "unknown message type 0"),
        (frame(True, *HEAD), "unknown message type True"),
        (frame("1", *HEAD), "unknown message type '1'"),
        # the envelope
        (frame(1, b"short", KEY, ADDRESS), "PING rpc_id"),
        (frame(1, b"\x09" * 9, KEY, ADDRESS), "PING rpc_id"),
        (frame(1, "\x09" * 8, KEY, ADDRESS), "PING rpc_id"),
        (frame(1, RPC_ID, b"k", ADDRESS), "PING sender_key"),
        (frame(1, RPC_ID, KEY * 2, ADDRESS), "PING sender_key"),
        (frame(1, RPC_ID, KEY, "no-scheme"), "sender_address"),
        (frame(1, RPC_ID, KEY, b"tcp://h:1"), "sender_address"),
        (frame(1, RPC_ID, KEY, "tcp://" + "h" * MAX_ADDRESS_CHARS), "sender_address"),
        (frame(1, RPC_ID, KEY), "PING"),
        (frame(1, *HEAD, "extra"), "PING"),
        (frame(2, *HEAD, None), "PONG"),
        # FIND_NODE, FIND_VALUE
        (frame(3, *HEAD, b"short-target", 20), "FIND_NODE target"),
        (frame(3, *HEAD, "\x01" * 32, 20), "FIND_NODE target"),
        (frame(3, *HEAD, ID, 65), "FIND_NODE count"),
        (frame(3, *HEAD, ID, 0), "FIND_NODE count"),
        (frame(3, *HEAD, ID, True), "FIND_NODE count"),
        (frame(3, *HEAD, ID, 20.0), "FIND_NODE count"),
        (frame(3, *HEAD, ID), "FIND_NODE"),
        (frame(7, *HEAD, ID), "FIND_VALUE"),
        (frame(7, *HEAD, ID[:31], 20), "FIND_VALUE key"),
        (frame(7, *HEAD, ID, 20, 1), "FIND_VALUE"),
        # FOUND_NODES
        (frame(4, *HEAD, [[ID, "inproc://a"]] * 65), "FOUND_NODES contacts"),
        (frame(4, *HEAD, [[ID, "no-scheme"]]), "contacts: address"),
        (frame(4, *HEAD, [[ID, "inproc://" + "a" * MAX_ADDRESS_CHARS]]), "FOUND_NODES contacts"),
        (frame(4, *HEAD, [[ID[:31], "inproc://a"]]), "FOUND_NODES contacts"),
        (frame(4, *HEAD, [[ID, "inproc://a", 1]]), "FOUND_NODES contacts"),
        (frame(4, *HEAD, [ID]), "FOUND_NODES contacts"),
        (frame(4, *HEAD, {"a": 1}), "FOUND_NODES contacts"),
        (frame(4, *HEAD), "FOUND_NODES"),
        # STORE_MANY
        (frame(12, *HEAD, []), "STORE_MANY items"),
        (frame(12, *HEAD, [[ID, b"s", b"v", 60, 0]] * 129), "STORE_MANY items"),
        (frame(12, *HEAD, [[ID, b"s", b"v", 0, 0]]), "STORE_MANY items"),
        (frame(12, *HEAD, [[ID[:5], b"s", b"v", 60, 0]]), "STORE_MANY items"),
        # STORE
        (frame(5, *HEAD, ID, b"s", b"v", 0), "STORE ttl_s"),
        (frame(5, *HEAD, ID, b"s", b"v", 7 * 24 * 3600 + 1), "STORE ttl_s"),
        (frame(5, *HEAD, ID, b"s", b"v", True), "STORE ttl_s"),
        (frame(5, *HEAD, ID, b"s", b"v" * (MAX_VALUE_BYTES + 1), 10), "STORE value"),
        (frame(5, *HEAD, ID, b"s" * 65, b"v", 10), "STORE subkey"),
        (frame(5, *HEAD, ID, "s", b"v", 10), "STORE subkey"),
        (frame(5, *HEAD, ID[:1], b"s", b"v", 10), "STORE key"),
        (frame(5, *HEAD, ID, b"s", b"v", 10, -1), "STORE replicas"),
        (frame(5, *HEAD, ID, b"s", b"v", 10, MAX_CONTACTS + 1), "STORE replicas"),
        (frame(5, *HEAD, ID, b"s", b"v", 10, True), "STORE replicas"),
        (frame(5, *HEAD, ID, b"s", b"v"), "STORE"),
        (frame(5, *HEAD, ID, b"s", b"v", 10, 0, 0), "STORE"),
        # STORED, ERROR
        (frame(6, *HEAD, 1, ""), "STORED ok"),
        (frame(6, *HEAD, True, b""), "STORED reason"),
        (frame(6, *HEAD, True), "STORED"),
        (frame(9, *HEAD, 1, "m"), "ERROR code"),
        (frame(9, *HEAD, "c", None), "ERROR message"),
        # FOUND_VALUE
        (frame(8, *HEAD, [[b"s", b"v", 10]] * 129, []), "FOUND_VALUE records"),
        (frame(8, *HEAD, [[b"s", b"v", 0]], []), "FOUND_VALUE records"),
        (frame(8, *HEAD, [[b"s", b"v"]], []), "FOUND_VALUE records"),
        (frame(8, *HEAD, [[b"s" * 65, b"v", 10]], []), "FOUND_VALUE records"),
        (frame(8, *HEAD, [], [[ID, "x"]]), "contacts: address"),
        (frame(8, *HEAD, []), "FOUND_VALUE"),
        # APP_REQUEST, APP_REPLY
        (frame(10, *HEAD, "t" * 65, b""), "APP_REQUEST topic"),
        (frame(10, *HEAD, b"t", b""), "APP_REQUEST topic"),
        (frame(10, *HEAD, "t", "payload"), "APP_REQUEST payload"),
        (frame(11, *HEAD, "payload"), "APP_REPLY payload"),
        (frame(11, *HEAD, msgpack.ExtType(1, b"x")), "APP_REPLY payload"),
        (frame(11, *HEAD), "APP_REPLY"),
        (b"\x00" * (MAX_FRAME_BYTES + 1), "exceeds"),
    ],
)
def test_bad_frames_raise_protocol_error(data: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(fragment)):
        decode_frame(data)


def test_encoding_an_oversized_frame_is_refused() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        encode_frame(envelope(AppRequest("t", b"x" * MAX_FRAME_BYTES)))


@given(st.binary(max_size=2000))
@settings(max_examples=1000, deadline=None)
def test_property_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_frame(data)


@given(st.integers(0, 12), st.lists(msgpack_values, max_size=6))
@settings(max_examples=1000, deadline=None)
def test_property_well_headed_junk_raises_only_protocol_errors(kind: int, rest: list[object]) -> None:
    with contextlib.suppress(ProtocolError):
        decode_frame(frame(kind, *HEAD, *rest))


@given(st.lists(msgpack_values, max_size=8))
@settings(max_examples=500, deadline=None)
def test_property_junk_bodies_raise_only_protocol_errors(items: list[object]) -> None:
    for data in (msgpack.packb([PROTOCOL_VERSION, items]), msgpack.packb(items), msgpack.packb([1, *items])):
        with contextlib.suppress(ProtocolError):
            decode_frame(data)
