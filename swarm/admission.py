"""Admission of packets from the network: verify the signature, then refuse replays and stale copies.

Every packet an agent receives goes through :meth:`PacketAdmission.admit` first. It decodes and
verifies the bytes (:func:`~synthswarm.swarm.packet.decode_packet`), refuses packets past their ttl or dated
beyond the allowed clock skew, and refuses a second copy of a packet it already admitted for the
same receiver. Each refusal raises a :class:`~synthswarm.swarm.errors.PacketError` subclass and is counted.
A packet object whose signature is already known good (its ``verified``: signed in this process, or
verified when its bytes were decoded) skips the decoding and the signature, not the other checks; any
other object is checked from its wire bytes, like bytes from the network.

The replay memory is bounded. It remembers each admitted packet until the packet expires; when it is
full it forgets the packet that expires first and raises its *floor* to that expiry. A packet that
expires at or before the floor might be a copy of a forgotten one, so it is refused as expired. A
packet is therefore admitted at most once per receiver for as long as the node runs, with memory
``replay_capacity`` entries, at the cost of refusing short-lived packets when the memory is churning.

A request whose answer was slow is sent again by the sender's RPC client. That resend is not a
replay to refuse: :meth:`PacketAdmission.admit_request` remembers, beside each packet admitted for a
receiver, who sent it and (once the host knows it) how it was answered (an :class:`Answer`), and
answers a copy from the same sender with that same answer, waiting for it while the first copy is
still being handled. So a receiver that promised a reply to a query still counts as having promised
when the promise's acknowledgement had to be sent twice. A copy from anyone else is a replay, refused
as before. The answer is kept as long as the packet id is.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from dataclasses import dataclass

from synthswarm.swarm.errors import (
    ConfigError,
    PacketError,
    PacketExpiredError,
    PacketReplayError,
    PacketSignatureError,
)
from synthswarm.swarm.packet import OutcomePacket, decode_packet

__all__ = ["AdmissionSettings", "AdmissionStats", "Admitted", "Answer", "PacketAdmission"]


@dataclass(frozen=True)
class AdmissionSettings:
    replay_capacity: int = 8192
    """Packet ids remembered per host (about 200 bytes each) to refuse replays."""
    max_clock_skew_s: float = 300.0
    """How far in the future a packet's ``created_at`` may lie (senders' clocks differ)."""

    def __post_init__(self) -> None:
        if self.replay_capacity < 1:
            raise ConfigError("admission.replay_capacity", f"must be at least 1, got {self.replay_capacity}")
        if self.max_clock_skew_s < 0:
            raise ConfigError("admission.max_clock_skew_s", "must not be negative")


@dataclass
class AdmissionStats:
    """What admission did with the packets it was shown."""

    admitted: int = 0
    forged: int = 0
    """Signature did not verify: a forged packet, or one tampered with after signing."""
    malformed: int = 0
    """Not a well-formed packet, oversized, or of an unknown version."""
    replayed: int = 0
    """A copy of a packet already admitted for the same receiver, from another sender."""
    resent: int = 0
    """A copy of a request from the sender of the first (a retry of a slow request): answered as the
    first was, not handed to the receiver again, and not a rejection."""
    expired: int = 0
    """Past its ttl, below the replay floor, or dated in the future."""

    @property
    def rejected(self) -> int:
        return self.forged + self.malformed + self.replayed + self.expired


class Answer:
    """How the first copy of a request carrying a packet was answered for one receiver (an int code:
    the host's delivery outcome, or a relay's promise), so that a resend from its ``sender`` gets the
    same answer."""

    __slots__ = ("_done", "_value", "sender")

    def __init__(self, sender: bytes) -> None:
        self.sender = sender
        self._value: int | None = None
        self._done = asyncio.Event()

    def give(self, value: int) -> None:
        """Record the first copy's answer (once: a later call changes nothing)."""
        if self._value is None:
            self._value = value
            self._done.set()

    async def wait(self) -> int:
        """The first copy's answer, once it is known."""
        await self._done.wait()
        assert self._value is not None
        return self._value


@dataclass(frozen=True)
class Admitted:
    """A packet admitted for a receiver, and where to record how the request carrying it was
    answered (:meth:`Answer.give`; a resend of the request is answered with it)."""

    packet: OutcomePacket
    answer: Answer


class PacketAdmission:
    """The gate between untrusted bytes and an agent. One per host; ``scope`` names the receiver."""

    def __init__(self, settings: AdmissionSettings | None = None) -> None:
        self.settings = settings or AdmissionSettings()
        self.stats = AdmissionStats()
        self._seen: dict[bytes, int] = {}  # scope + packet id -> expiry (ms)
        self._answers: dict[bytes, Answer] = {}  # scope + packet id -> the first request's answer
        self._expiries: list[tuple[int, bytes]] = []
        self._floor_ms = 0

    def __len__(self) -> int:
        return len(self._seen)

    def admit(
        self, data: bytes | OutcomePacket, scope: bytes = b"", *, now_ms: int | None = None
    ) -> OutcomePacket:
        """The verified packet in ``data``, or a :class:`PacketError` saying why it was refused."""
        packet, _ = self._admit(data, scope, None, now_ms)
        return packet

    def admit_request(
        self, data: bytes | OutcomePacket, scope: bytes, *, sender: bytes, now_ms: int | None = None
    ) -> Admitted | Answer:
        """Admit the packet of a request from the node ``sender``: :class:`Admitted` the first time
        (record its answer there), or, for a copy from the same sender (a resend), the first copy's
        :class:`Answer` to answer it with. Refusals raise as :meth:`admit` does: a copy from another
        sender is a :class:`PacketReplayError`."""
        packet, resent = self._admit(data, scope, sender, now_ms)
        if resent is not None:
            return resent
        answer = self._answers[scope + packet.id] = Answer(sender)
        return Admitted(packet, answer)

    def _admit(
        self, data: bytes | OutcomePacket, scope: bytes, sender: bytes | None, now_ms: int | None
    ) -> tuple[OutcomePacket, Answer | None]:
        """The verified, fresh packet in ``data`` (remembered), or, for a resend from ``sender``, the
        packet and the first copy's answer."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        packet = self._verified(data)
        self._forget_expired(now)
        expires = packet.expires_at_ms()
        key = scope + packet.id
        if key in self._seen:
            first = self._answers.get(key)
            if sender is not None and first is not None and first.sender == sender:
                self.stats.resent += 1
                return packet, first
            self.stats.replayed += 1
            raise PacketReplayError(f"packet {packet.id.hex()[:16]} was already received")
        if expires <= now or expires <= self._floor_ms:
            self.stats.expired += 1
            raise PacketExpiredError(f"packet {packet.id.hex()[:16]} has expired")
        if packet.created_at_ms > now + self.settings.max_clock_skew_s * 1000:
            self.stats.expired += 1
            raise PacketExpiredError(f"packet {packet.id.hex()[:16]} is dated in the future")
        self._remember(key, expires)
        self.stats.admitted += 1
        return packet, None

    def _verified(self, data: bytes | OutcomePacket) -> OutcomePacket:
        if isinstance(data, OutcomePacket):
            if data.verified:
                return data
            data = data.wire
        try:
            return decode_packet(data)
        except PacketSignatureError:
            self.stats.forged += 1
            raise
        except PacketError:
            self.stats.malformed += 1
            raise

    def _remember(self, key: bytes, expires: int) -> None:
        self._seen[key] = expires
        heapq.heappush(self._expiries, (expires, key))
        while len(self._seen) > self.settings.replay_capacity:
            first, old = heapq.heappop(self._expiries)
            self._answers.pop(old, None)
            if self._seen.pop(old, None) is not None:
                self._floor_ms = max(self._floor_ms, first)

    def _forget_expired(self, now: int) -> None:
        # An expired packet is refused on its date alone, so its id need not be remembered.
        while self._expiries and self._expiries[0][0] <= now:
            _, key = heapq.heappop(self._expiries)
            self._seen.pop(key, None)
            self._answers.pop(key, None)
