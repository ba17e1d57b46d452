from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.dht.ids import Contact
from swarm.dht.messages import (
    MAX_FRAME_BYTES,
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
    decode_frame,
    encode_frame,
)
from swarm.errors import ProtocolError
from swarm.identity import Identity
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
]


def envelope(message: Message) -> Envelope:
    return Envelope(b"\x09" * 8, ME.public_key, "tcp://127.0.0.1:5000", message)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    decoded = decode_frame(encode_frame(envelope(message)))
    assert decoded == envelope(message)
    assert decoded.sender.node_id == ME.id


def frame(*items: object) -> bytes:
    return msgpack.packb(list(items), use_bin_type=True)


GOOD_HEAD = (1, 1, b"\x09" * 8, b"\x05" * 32, "tcp://h:1")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "msgpack"),
        (b"\xc1", "msgpack"),
        (frame(2, *GOOD_HEAD[1:]), "version 2"),
        (frame(1, 99, *GOOD_HEAD[2:]), "unknown message type"),
        (frame(*GOOD_HEAD[:2], b"short", *GOOD_HEAD[3:]), "rpc id"),
        (frame(*GOOD_HEAD[:3], b"k", GOOD_HEAD[4]), "sender key"),
        (frame(*GOOD_HEAD[:4], "no-scheme"), "address"),
        (frame(*GOOD_HEAD, "extra"), "PING"),
        (frame(1, 3, *GOOD_HEAD[2:], b"short-target", 20), "target"),
        (frame(1, 3, *GOOD_HEAD[2:], b"\x01" * 32, 65), "count"),
        (frame(1, 7, *GOOD_HEAD[2:], b"\x01" * 32), "FIND_VALUE"),
        (frame(1, 5, *GOOD_HEAD[2:], b"\x01" * 32, b"s", b"v", 0), "ttl"),
        (frame(1, 5, *GOOD_HEAD[2:], b"\x01" * 32, b"s", b"v" * 5000, 10), "value"),
        (frame(1, 4, *GOOD_HEAD[2:], [[b"\x01" * 32, "inproc://a"]] * 65), "contacts"),
        (frame(1, 6, *GOOD_HEAD[2:], 1, ""), "ok"),
        (b"\x00" * (MAX_FRAME_BYTES + 1), "exceeds"),
    ],
)
def test_bad_frames_raise_protocol_error(data: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
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
        decode_frame(frame(1, kind, b"\x09" * 8, b"\x05" * 32, "tcp://h:1", *rest))
