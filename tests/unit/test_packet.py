from __future__ import annotations

import contextlib
import dataclasses

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthswarm.swarm.errors import (
    PacketError,
    PacketMalformedError,
    PacketSignatureError,
    PacketTooLargeError,
    PacketVersionError,
)
from synthswarm.swarm.identity import Identity, id_of
from synthswarm.swarm.packet import (
    _WIRE,
    MAX_FINDING_BYTES,
    MAX_PACKET_BYTES,
    MAX_QUERY_BYTES,
    MAX_QUERY_PACKET_BYTES,
    CompactEmbedding,
    EmbeddingDType,
    OutcomePacket,
    PacketContent,
    PacketKind,
    _packet_id,
    _Wire,
    decode_packet,
    encode_packet,
    make_packet,
    packet_cap,
)
from tests.unit.strategies import msgpack_values

IDENTITY = Identity.from_seed(bytes(range(32)))


def unit_vector(seed: int, dims: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def sample_packet(**overrides: object) -> OutcomePacket:
    fields: dict[str, object] = {
        "kind": "finding",
        "topic": "river trade",
        "finding": "The Rhine carried most grain after 1350." * 7,
        "embedding": unit_vector(0),
        "confidence": 0.75,
        "evidence": ["corpus/rhine.txt#p12"],
        "created_at_ms": 1_790_000_000_000,
    }
    fields.update(overrides)
    return make_packet(IDENTITY, **fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    packet = sample_packet(parents=[b"\x01" * 32, b"\x02" * 32], kind=PacketKind.SYNTHESIS)
    decoded = decode_packet(encode_packet(packet))
    assert decoded == packet
    assert decoded.origin == id_of(IDENTITY.public_key) == IDENTITY.id
    assert decoded.depth == 1


def test_id_is_deterministic_and_content_addressed() -> None:
    assert sample_packet().id == sample_packet().id
    assert sample_packet().id != sample_packet(confidence=0.5).id


def test_packet_with_384_dims_and_300_chars_is_under_1536_bytes() -> None:
    packet = sample_packet(finding="x" * 300)
    assert len(encode_packet(packet)) <= 1536


def test_int8_embedding_is_close_to_the_original() -> None:
    v = unit_vector(3)
    restored = sample_packet(embedding=v).embedding.to_array()
    assert restored.shape == (384,)
    assert float(np.dot(restored, v)) > 0.999


def test_float16_embedding_round_trips() -> None:
    v = unit_vector(4)
    packet = sample_packet(embedding=CompactEmbedding.from_vector(v, EmbeddingDType.FLOAT16))
    restored = decode_packet(encode_packet(packet)).embedding.to_array()
    np.testing.assert_allclose(restored, v, atol=1e-3)


def test_tampered_content_fails_the_signature() -> None:
    packet = sample_packet()
    forged = dataclasses.replace(packet, finding="The Rhine carried nothing.")
    with pytest.raises(PacketSignatureError):
        decode_packet(encode_packet(forged))


def test_signature_by_another_key_is_rejected() -> None:
    packet = sample_packet()
    other = Identity.from_seed(b"\x07" * 32)
    forged = dataclasses.replace(packet, signature=other.sign(packet.id))
    with pytest.raises(PacketSignatureError):
        decode_packet(encode_packet(forged))


def test_a_packet_keeps_its_wire_bytes_and_knows_whether_it_was_verified() -> None:
    packet = sample_packet()
    assert packet.verified  # signed here
    assert encode_packet(packet) is encode_packet(packet)  # encoded once
    data = encode_packet(packet)
    again = decode_packet(data)
    assert again.verified
    assert again.wire == data
    assert not decode_packet(data, verify=False).verified
    changed = dataclasses.replace(packet, finding="changed")  # a copy keeps neither
    assert not changed.verified
    assert decode_packet(changed.wire, verify=False).finding == "changed"


def test_verification_can_be_skipped_explicitly() -> None:
    packet = sample_packet()
    forged = dataclasses.replace(packet, signature=b"\x00" * 64)
    assert decode_packet(encode_packet(forged), verify=False).finding == packet.finding


def test_unknown_version_is_its_own_error() -> None:
    data = msgpack.packb([2, b"body", b"sig"])
    with pytest.raises(PacketVersionError, match="version 2"):
        decode_packet(data)


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(PacketTooLargeError):
        decode_packet(b"\x00" * (MAX_QUERY_PACKET_BYTES + 1))
    with pytest.raises(PacketTooLargeError):
        decode_packet(b"\x00" * (MAX_PACKET_BYTES + 1), max_bytes=MAX_PACKET_BYTES)


def test_a_query_carries_its_whole_text_and_other_kinds_their_finding_cap() -> None:
    long = "Which bridge did the designer of the Orrin Bridge also build? " * 60  # 3.7 KB
    query = sample_packet(kind=PacketKind.QUERY, finding=long)
    assert decode_packet(encode_packet(query)).finding == long  # whole, past a finding's 1,024 bytes
    assert MAX_PACKET_BYTES < len(encode_packet(query)) <= MAX_QUERY_PACKET_BYTES
    with pytest.raises(PacketMalformedError, match="finding text over 1024 bytes"):
        sample_packet(finding=long)  # a finding is refused, never cut, unless asked to shrink
    assert len(sample_packet(finding=long, shrink_to_fit=True).finding.encode()) <= MAX_FINDING_BYTES
    longest = sample_packet(kind=PacketKind.QUERY, finding="x" * (MAX_QUERY_BYTES + 1), shrink_to_fit=True)
    assert len(longest.finding.encode()) <= MAX_QUERY_BYTES
    with pytest.raises(PacketMalformedError, match=f"query text over {MAX_QUERY_BYTES} bytes"):
        sample_packet(kind=PacketKind.QUERY, finding="x" * (MAX_QUERY_BYTES + 1))


def _signed_unchecked(content: PacketContent) -> bytes:
    """The wire bytes of ``content``, signed, with no cap checked (as a peer's bytes may be)."""
    body = content.encode_body()
    data = _Wire(body, IDENTITY.sign(_packet_id(body)))
    encoded = msgpack.packb([1, body, data.signature])
    assert _WIRE.decode(encoded) == data
    return encoded


def test_a_packet_over_its_kinds_cap_is_refused_when_decoded() -> None:
    # Each field within its cap, the whole past the 2 KiB of a finding: refused as too large once
    # its kind is read, though a query of the same size would pass.
    fields = dict(
        topic="t" * 160, finding="f" * 1024, embedding=CompactEmbedding.from_vector(np.ones(1024)),
        confidence=1.0, parents=(), evidence=("e" * 160,) * 8, created_at_ms=1_790_000_000_000,
        ttl_s=60, depth=0, public_key=IDENTITY.public_key,
    )  # fmt: skip
    finding = _signed_unchecked(PacketContent(kind=PacketKind.FINDING, **fields))  # type: ignore[arg-type]
    assert MAX_PACKET_BYTES < len(finding) <= MAX_QUERY_PACKET_BYTES
    with pytest.raises(PacketTooLargeError, match="finding packet is"):
        decode_packet(finding)
    query = _signed_unchecked(PacketContent(kind=PacketKind.QUERY, **fields))  # type: ignore[arg-type]
    assert decode_packet(query).kind is PacketKind.QUERY


def test_making_an_oversized_packet_fails_with_a_hint() -> None:
    with pytest.raises(PacketTooLargeError, match="shorten"):
        sample_packet(finding="é" * 500, evidence=["e" * 150] * 8, topic="t" * 160)


def test_non_canonical_encoding_is_rejected() -> None:
    packet = sample_packet()
    version, body, signature = msgpack.unpackb(encode_packet(packet))
    items = msgpack.unpackb(body)
    # The same ttl, packed as a 64-bit integer instead of the shortest form: same value, other bytes.
    wide_body = _pack_with_wide_int(items, index=10)
    with pytest.raises(PacketMalformedError, match="canonical"):
        decode_packet(msgpack.packb([version, wide_body, signature]))


def _pack_with_wide_int(items: list[object], index: int) -> bytes:
    header = b"\x9d"  # fixarray of 13
    parts = [header]
    for i, item in enumerate(items):
        if i == index:
            assert isinstance(item, int)
            parts.append(b"\xcf" + item.to_bytes(8, "big"))
        else:
            parts.append(msgpack.packb(item, use_bin_type=True))
    return b"".join(parts)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": float("nan")}, "confidence"),
        ({"kind": "rumour"}, "rumour"),
        ({"parents": [b"short"]}, "parent ids"),
        ({"parents": [b"\x01" * 32, b"\x01" * 32]}, "duplicate"),
        ({"evidence": ["e"] * 9}, "evidence"),
        ({"ttl_s": 0}, "ttl"),
        ({"embedding": np.zeros(0)}, "embedding"),
        ({"embedding": np.array([np.inf, 1.0])}, "embedding"),
        ({"depth": 0, "parents": [b"\x01" * 32]}, "depth"),
    ],
)
def test_invalid_fields_are_refused_when_making(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(PacketMalformedError, match=message):
        sample_packet(**overrides)


def test_expiry() -> None:
    packet = sample_packet(ttl_s=60)
    assert not packet.is_expired(packet.created_at_ms + 59_999)
    assert packet.is_expired(packet.created_at_ms + 60_000)


@pytest.mark.parametrize(
    "bad", [b"", b"\xc1", b"\x93\x01", msgpack.packb({"a": 1}), msgpack.packb([True, b"", b""])]
)
def test_garbage_is_malformed(bad: bytes) -> None:
    with pytest.raises(PacketMalformedError):
        decode_packet(bad)


def test_non_bytes_input_is_malformed() -> None:
    with pytest.raises(PacketMalformedError):
        decode_packet("not bytes")  # type: ignore[arg-type]


# --- property tests -------------------------------------------------------------------------------

text = st.text(max_size=40)
packets = st.builds(
    lambda kind, topic, finding, seed, dims, conf, n_parents, evidence, ttl, dtype: make_packet(
        IDENTITY,
        kind=kind,
        topic=topic,
        finding=finding,
        embedding=CompactEmbedding.from_vector(unit_vector(seed, dims), dtype),
        confidence=conf,
        parents=[bytes([i]) * 32 for i in range(n_parents)],
        evidence=evidence,
        ttl_s=ttl,
        created_at_ms=1_790_000_000_000,
    ),
    kind=st.sampled_from(list(PacketKind)),
    topic=text,
    finding=st.text(max_size=300),
    seed=st.integers(0, 2**32 - 1),
    dims=st.integers(1, 384),
    conf=st.floats(0, 1),
    n_parents=st.integers(0, 8),
    evidence=st.lists(text, max_size=8),
    ttl=st.integers(1, 3600),
    dtype=st.sampled_from(list(EmbeddingDType)),
)


@given(packets)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_round_trip(packet: OutcomePacket) -> None:
    data = encode_packet(packet)
    assert len(data) <= packet_cap(packet.kind) <= MAX_QUERY_PACKET_BYTES
    assert decode_packet(data) == packet
    assert encode_packet(decode_packet(data)) == data


@given(st.binary(max_size=3000))
@settings(max_examples=1500, deadline=None)
def test_property_random_bytes_raise_only_packet_errors(data: bytes) -> None:
    with contextlib.suppress(PacketError):
        decode_packet(data)


@given(st.integers(0, 3), msgpack_values, msgpack_values)
@settings(max_examples=800, deadline=None)
def test_property_structured_junk_raises_only_packet_errors(version: int, body: object, sig: object) -> None:
    inner = msgpack.packb(body, use_bin_type=True)
    for candidate in (msgpack.packb([version, inner, sig], use_bin_type=True), msgpack.packb(body)):
        with contextlib.suppress(PacketError):
            decode_packet(candidate)


@given(st.data())
@settings(max_examples=600, deadline=None)
def test_property_mutated_packets_raise_only_packet_errors(data: st.DataObject) -> None:
    original = encode_packet(sample_packet())
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = data.draw(st.integers(0, max(0, len(mutated) - 1)))
        if action == "flip" and mutated:
            mutated[position] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            mutated.insert(position, data.draw(st.integers(0, 255)))
        elif action == "delete" and mutated:
            del mutated[position]
        elif action == "truncate":
            del mutated[position:]
    try:
        decoded = decode_packet(bytes(mutated))
    except PacketError:
        return
    # Anything that still decodes and verifies must be the original packet, byte for byte.
    assert bytes(mutated) == original
    assert decoded == decode_packet(original)
