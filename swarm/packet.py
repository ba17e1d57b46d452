"""Outcome packets: the small, signed records agents exchange instead of raw data.

Wire format (version 1), all canonical msgpack::

    packet = [version: int, body: bin, signature: bin(64)]
    body   = [kind, topic, finding, emb_dtype, emb_scale, emb_data, confidence,
              parents, evidence, created_at_ms, ttl_s, depth, public_key]

``id = SHA-256(b"synthswarm/packet/1" || body)`` and ``signature = Ed25519(id)`` by the key whose
SHA-256 is the packet's ``origin``. A receiver re-encodes the body it decoded and rejects the packet
unless the bytes match, so every packet has exactly one encoding and one id.

Size caps depend on the kind (:func:`finding_cap`, :func:`packet_cap`). A finding, reply or
synthesis carries at most :data:`MAX_FINDING_BYTES` of text in a packet of at most
:data:`MAX_PACKET_BYTES`. A query carries its whole text, up to :data:`MAX_QUERY_BYTES`, in a packet
of at most :data:`MAX_QUERY_PACKET_BYTES`: every agent a query reaches scores its passages against
that text, and scoring a cut of it would rank them otherwise than the asker ranks its own (a later
round's query is the question bridged with a whole passage, often past the finding cap). A query
packet still fits one RPC frame. A packet over its kind's cap is refused with
:class:`~synthswarm.swarm.errors.PacketTooLargeError`, when made and when decoded: never cut on the
way. (A node built before queries had their own cap refuses a longer query packet as too large.)

:func:`decode_packet` is the only way bytes become a packet. It raises nothing but
:class:`~synthswarm.swarm.errors.PacketError` subclasses, whatever the input.

A packet keeps its wire bytes (:attr:`OutcomePacket.wire`): the bytes it was decoded from, or those
:func:`make_packet` encoded, so sending it to many receivers encodes it once. It also knows whether
its signature is known good (:attr:`OutcomePacket.verified`: signed here, or verified on decode), so
admission need not decode and verify again a packet made in this process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import msgspec
import numpy as np
import numpy.typing as npt

from synthswarm.swarm._codec import WireStruct, decode, encode
from synthswarm.swarm.errors import (
    PacketMalformedError,
    PacketSignatureError,
    PacketTooLargeError,
    PacketVersionError,
)
from synthswarm.swarm.identity import (
    ID_BYTES,
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    Identity,
    id_of,
    verify_signature,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_EVIDENCE",
    "MAX_FINDING_BYTES",
    "MAX_PACKET_BYTES",
    "MAX_PARENTS",
    "MAX_QUERY_BYTES",
    "MAX_QUERY_PACKET_BYTES",
    "MAX_TOPIC_BYTES",
    "PACKET_VERSION",
    "CompactEmbedding",
    "EmbeddingDType",
    "OutcomePacket",
    "PacketContent",
    "PacketKind",
    "decode_packet",
    "encode_packet",
    "finding_cap",
    "fit_text",
    "make_packet",
    "packet_cap",
]

PACKET_VERSION = 1
#: Hard cap on an encoded packet of any kind but a query.
MAX_PACKET_BYTES = 2048
MAX_TOPIC_BYTES = 160
#: Cap on the text of a packet of any kind but a query.
MAX_FINDING_BYTES = 1024
#: Cap on a query's text: a question bridged with whole passages (fetched texts are at most 6,144
#: characters), carried whole so that every agent scores what its asker scores.
MAX_QUERY_BYTES = 32 * 1024
#: Hard cap on an encoded query packet (its text and the fields every packet has); the most any
#: packet may be, so bigger input is refused before it is parsed. It fits an RPC frame (64 KiB).
MAX_QUERY_PACKET_BYTES = MAX_QUERY_BYTES + MAX_PACKET_BYTES
MAX_PARENTS = 8
MAX_EVIDENCE = 8
MAX_EVIDENCE_REF_BYTES = 160
MAX_EMBEDDING_DIMS = 1024
MAX_DEPTH = 64
MAX_TTL_S = 30 * 24 * 3600
DEFAULT_TTL_S = 24 * 3600
_ID_DOMAIN = b"synthswarm/packet/1"


class PacketKind(StrEnum):
    """What a packet says: a finding, a question to the swarm, a reply, or a synthesis of others."""

    FINDING = "finding"
    QUERY = "query"
    REPLY = "reply"
    SYNTHESIS = "synthesis"


def finding_cap(kind: PacketKind) -> int:
    """The most bytes of UTF-8 text a packet of ``kind`` carries: a query's whole text, up to
    :data:`MAX_QUERY_BYTES`; any other packet's up to :data:`MAX_FINDING_BYTES`."""
    return MAX_QUERY_BYTES if kind is PacketKind.QUERY else MAX_FINDING_BYTES


def packet_cap(kind: PacketKind) -> int:
    """The most bytes an encoded packet of ``kind`` may be."""
    return MAX_QUERY_PACKET_BYTES if kind is PacketKind.QUERY else MAX_PACKET_BYTES


class EmbeddingDType(IntEnum):
    """How an embedding is stored on the wire."""

    INT8 = 0
    FLOAT16 = 1


@dataclass(frozen=True, slots=True)
class CompactEmbedding:
    """A quantized embedding: int8 with one scale per vector (default), or float16."""

    dtype: EmbeddingDType
    scale: float
    data: bytes

    @classmethod
    def from_vector(
        cls, vector: npt.ArrayLike, dtype: EmbeddingDType = EmbeddingDType.INT8
    ) -> CompactEmbedding:
        """Quantize a 1-D float vector."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.size == 0 or v.size > MAX_EMBEDDING_DIMS or not np.all(np.isfinite(v)):
            raise ValueError(f"embedding must be 1..{MAX_EMBEDDING_DIMS} finite floats")
        if dtype is EmbeddingDType.FLOAT16:
            return cls(dtype, 1.0, v.astype("<f2").tobytes())
        peak = float(np.max(np.abs(v)))
        scale = float(np.float32(peak / 127.0)) if peak > 0 else 1.0
        q = np.clip(np.rint(v / scale), -127, 127).astype(np.int8)
        return cls(dtype, scale, q.tobytes())

    @property
    def dims(self) -> int:
        return len(self.data) // (1 if self.dtype is EmbeddingDType.INT8 else 2)

    def to_array(self) -> npt.NDArray[np.float32]:
        """The de-quantized vector as float32."""
        if self.dtype is EmbeddingDType.FLOAT16:
            return np.frombuffer(self.data, dtype="<f2").astype(np.float32)
        return np.frombuffer(self.data, dtype=np.int8).astype(np.float32) * np.float32(self.scale)


@dataclass(frozen=True, slots=True)
class PacketContent:
    """What a packet says and who says it: everything the signature covers."""

    kind: PacketKind
    topic: str
    finding: str
    embedding: CompactEmbedding
    confidence: float
    parents: tuple[bytes, ...]
    evidence: tuple[str, ...]
    created_at_ms: int
    ttl_s: int
    depth: int
    public_key: bytes

    def to_packet(self, packet_id: bytes, signature: bytes) -> OutcomePacket:
        content = {f.name: getattr(self, f.name) for f in dataclasses.fields(PacketContent)}
        return OutcomePacket(**content, id=packet_id, signature=signature)

    def encode_body(self) -> bytes:
        return encode(_Body.of(self))

    @classmethod
    def decode_body(cls, body: bytes) -> PacketContent:
        fields = decode(_BODY, body, PacketMalformedError, "packet body").content()
        fields.validate()
        return fields

    def validate(self) -> None:
        _check(len(self.topic.encode()) <= MAX_TOPIC_BYTES, f"topic over {MAX_TOPIC_BYTES} bytes")
        cap = finding_cap(self.kind)
        _check(len(self.finding.encode()) <= cap, f"{self.kind} text over {cap} bytes")
        _check(math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0, "confidence not in [0, 1]")
        _check(len(self.parents) <= MAX_PARENTS, f"more than {MAX_PARENTS} parents")
        _check(all(len(p) == ID_BYTES for p in self.parents), f"parent ids must be {ID_BYTES} bytes")
        _check(len(set(self.parents)) == len(self.parents), "duplicate parent ids")
        _check(len(self.evidence) <= MAX_EVIDENCE, f"more than {MAX_EVIDENCE} evidence refs")
        _check(
            all(len(e.encode()) <= MAX_EVIDENCE_REF_BYTES for e in self.evidence),
            f"evidence ref over {MAX_EVIDENCE_REF_BYTES} bytes",
        )
        _check(0 <= self.created_at_ms < 2**53, "created_at out of range")
        _check(0 < self.ttl_s <= MAX_TTL_S, f"ttl not in 1..{MAX_TTL_S} seconds")
        _check(0 <= self.depth <= MAX_DEPTH, f"depth not in 0..{MAX_DEPTH}")
        _check((self.depth == 0) == (not self.parents), "depth must be 0 exactly when there are no parents")
        _check(len(self.public_key) == PUBLIC_KEY_BYTES, f"public key must be {PUBLIC_KEY_BYTES} bytes")
        e = self.embedding
        itemsize = 1 if e.dtype is EmbeddingDType.INT8 else 2
        _check(len(e.data) % itemsize == 0, "embedding data length does not match its dtype")
        _check(
            0 < len(e.data) // itemsize <= MAX_EMBEDDING_DIMS, f"embedding not 1..{MAX_EMBEDDING_DIMS} dims"
        )
        _check(math.isfinite(e.scale) and e.scale > 0, "embedding scale must be a positive finite float")
        if e.dtype is EmbeddingDType.FLOAT16:
            _check(bool(np.all(np.isfinite(e.to_array()))), "float16 embedding holds inf or nan")


@dataclass(frozen=True, slots=True)
class OutcomePacket(PacketContent):
    """A signed outcome packet. Make one with :func:`make_packet`; read one with :func:`decode_packet`."""

    id: bytes
    signature: bytes
    # Set once, by make_packet or decode_packet; left out of equality, and not carried by
    # dataclasses.replace, so a changed copy encodes its own bytes and is verified like a stranger.
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)
    _verified: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def wire(self) -> bytes:
        """The canonical wire bytes: those it was decoded from or made with, else encoded on first use."""
        wire = self._wire
        if wire is None:
            wire = encode(_Wire(self.encode_body(), self.signature))
            object.__setattr__(self, "_wire", wire)
        return wire

    @property
    def verified(self) -> bool:
        """Whether the signature is known good: the packet was signed in this process, or its bytes
        were verified when they were decoded."""
        return self._verified

    @property
    def origin(self) -> bytes:
        """The id of the agent that signed the packet: SHA-256 of its public key."""
        return id_of(self.public_key)

    def expires_at_ms(self) -> int:
        return self.created_at_ms + self.ttl_s * 1000

    def is_expired(self, now_ms: int | None = None) -> bool:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return now >= self.expires_at_ms()


def make_packet(
    identity: Identity,
    *,
    kind: PacketKind | str,
    topic: str,
    finding: str,
    embedding: npt.ArrayLike | CompactEmbedding,
    confidence: float = 1.0,
    parents: Sequence[bytes] = (),
    evidence: Sequence[str] = (),
    ttl_s: int = DEFAULT_TTL_S,
    depth: int | None = None,
    created_at_ms: int | None = None,
    embedding_dtype: EmbeddingDType = EmbeddingDType.INT8,
    shrink_to_fit: bool = False,
) -> OutcomePacket:
    """Build and sign a packet. Invalid fields raise :class:`PacketMalformedError`, oversize
    :class:`PacketTooLargeError`, so a packet that is made can always be sent and decoded.

    With ``shrink_to_fit`` a finding over its kind's cap (:func:`finding_cap`) is cut at a word
    boundary, and an oversized packet drops evidence refs from the end, then cuts the finding, until it
    fits, instead of raising."""
    if shrink_to_fit:
        try:
            cap = finding_cap(PacketKind(kind))
        except ValueError as exc:
            raise PacketMalformedError(str(exc)) from exc
        finding = fit_text(finding, cap)
        evidence = [fit_text(e, MAX_EVIDENCE_REF_BYTES) for e in evidence][:MAX_EVIDENCE]
        while True:
            try:
                return make_packet(
                    identity, kind=kind, topic=fit_text(topic, MAX_TOPIC_BYTES), finding=finding,
                    embedding=embedding, confidence=confidence, parents=parents, evidence=evidence,
                    ttl_s=ttl_s, depth=depth, created_at_ms=created_at_ms, embedding_dtype=embedding_dtype,
                )  # fmt: skip
            except PacketTooLargeError:
                if evidence:
                    evidence = evidence[:-1]
                elif len(finding) > 16:
                    finding = fit_text(finding, len(finding.encode()) * 3 // 4)
                else:
                    raise
    try:
        emb = (
            embedding
            if isinstance(embedding, CompactEmbedding)
            else CompactEmbedding.from_vector(embedding, embedding_dtype)
        )
        packet_kind = PacketKind(kind)
    except ValueError as exc:
        raise PacketMalformedError(str(exc)) from exc
    fields = PacketContent(
        kind=packet_kind,
        topic=topic,
        finding=finding,
        embedding=emb,
        confidence=float(confidence),
        parents=tuple(parents),
        evidence=tuple(evidence),
        created_at_ms=int(time.time() * 1000) if created_at_ms is None else created_at_ms,
        ttl_s=ttl_s,
        depth=(1 if parents else 0) if depth is None else depth,
        public_key=identity.public_key,
    )
    fields.validate()
    body = fields.encode_body()
    packet_id = _packet_id(body)
    signature = identity.sign(packet_id)
    packet = _sealed(fields.to_packet(packet_id, signature), encode(_Wire(body, signature)))
    size, cap = len(packet.wire), packet_cap(packet_kind)
    if size > cap:
        raise PacketTooLargeError(
            f"{packet_kind} packet would be {size} bytes, over the {cap}-byte cap: "
            "shorten the finding, topic or evidence"
        )
    return packet


def fit_text(text: str, max_bytes: int) -> str:
    """``text`` if it fits in ``max_bytes`` of UTF-8, else cut at a word boundary and ended with "…"."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    cut = data[: max_bytes - 3].decode(errors="ignore")
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) // 2 else cut).rstrip() + "…"


def encode_packet(packet: OutcomePacket) -> bytes:
    """The canonical wire bytes of ``packet`` (encoded at most once per packet)."""
    return packet.wire


def decode_packet(
    data: bytes, *, verify: bool = True, max_bytes: int = MAX_QUERY_PACKET_BYTES
) -> OutcomePacket:
    """Parse and (by default) verify untrusted bytes. Raises only :class:`PacketError` subclasses.

    Bytes over ``max_bytes`` are refused before they are parsed; a packet over its kind's cap
    (:func:`packet_cap`) once its kind is read."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PacketMalformedError(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise PacketTooLargeError(f"packet is {len(data)} bytes, cap is {max_bytes}")
    raw = bytes(data)
    wire = _decode_wire(raw)
    fields = PacketContent.decode_body(wire.body)
    if len(raw) > packet_cap(fields.kind):
        raise PacketTooLargeError(
            f"{fields.kind} packet is {len(raw)} bytes, cap is {packet_cap(fields.kind)}"
        )
    if wire.body != fields.encode_body() or encode(wire) != raw:
        raise PacketMalformedError("packet is not canonically encoded")
    if len(wire.signature) != SIGNATURE_BYTES:
        raise PacketMalformedError(f"signature must be {SIGNATURE_BYTES} bytes")
    packet_id = _packet_id(wire.body)
    if verify and not verify_signature(fields.public_key, wire.signature, packet_id):
        raise PacketSignatureError(f"signature of packet {packet_id.hex()[:16]} does not verify")
    return _sealed(fields.to_packet(packet_id, wire.signature), raw, verified=verify)


def _sealed(packet: OutcomePacket, wire: bytes, *, verified: bool = True) -> OutcomePacket:
    """``packet`` with its wire bytes kept, and marked verified when its signature is known good."""
    object.__setattr__(packet, "_wire", wire)
    object.__setattr__(packet, "_verified", verified)
    return packet


def _decode_wire(data: bytes) -> _Wire:
    try:
        return _WIRE.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        head = decode(_HEAD, data, PacketMalformedError, "not a packet: expected [version, body, signature]")
        if head.version != PACKET_VERSION:
            raise PacketVersionError(
                f"packet version {head.version} is not supported (this build: {PACKET_VERSION})"
            ) from exc
        raise PacketMalformedError(f"version-1 packet must be [1, body: bin, signature: bin]: {exc}") from exc


def _packet_id(body: bytes) -> bytes:
    return hashlib.sha256(_ID_DOMAIN + body).digest()


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise PacketMalformedError(message)


class _Wire(WireStruct, frozen=True, tag=PACKET_VERSION):
    """``[version, body, signature]``: the version is the tag, so another version fails to decode."""

    body: bytes
    signature: bytes


class _Head(msgspec.Struct, array_like=True):
    """The first item of a packet, whatever follows: to tell another version from garbage."""

    version: int


class _Body(WireStruct, frozen=True):
    """The signed body: the fields of :class:`PacketContent`, the embedding's three spelled out."""

    kind: PacketKind
    topic: str
    finding: str
    emb_dtype: EmbeddingDType
    emb_scale: float
    emb_data: bytes
    confidence: float
    parents: tuple[bytes, ...]
    evidence: tuple[str, ...]
    created_at_ms: int
    ttl_s: int
    depth: int
    public_key: bytes

    @classmethod
    def of(cls, c: PacketContent) -> _Body:
        e = c.embedding
        return cls(
            c.kind, c.topic, c.finding, e.dtype, e.scale, e.data, c.confidence, c.parents, c.evidence,
            c.created_at_ms, c.ttl_s, c.depth, c.public_key,
        )  # fmt: skip

    def content(self) -> PacketContent:
        return PacketContent(
            kind=self.kind, topic=self.topic, finding=self.finding,
            embedding=CompactEmbedding(self.emb_dtype, self.emb_scale, self.emb_data),
            confidence=self.confidence, parents=self.parents, evidence=self.evidence,
            created_at_ms=self.created_at_ms, ttl_s=self.ttl_s, depth=self.depth, public_key=self.public_key,
        )  # fmt: skip


_WIRE = msgspec.msgpack.Decoder(_Wire)
_HEAD = msgspec.msgpack.Decoder(_Head)
_BODY = msgspec.msgpack.Decoder(_Body)
