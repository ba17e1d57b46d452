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
"""

from __future__ import annotations

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

__all__ = ["AdmissionSettings", "AdmissionStats", "PacketAdmission"]


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
    """A copy of a packet already admitted for the same receiver."""
    expired: int = 0
    """Past its ttl, below the replay floor, or dated in the future."""

    @property
    def rejected(self) -> int:
        return self.forged + self.malformed + self.replayed + self.expired


class PacketAdmission:
    """The gate between untrusted bytes and an agent. One per host; ``scope`` names the receiver."""

    def __init__(self, settings: AdmissionSettings | None = None) -> None:
        self.settings = settings or AdmissionSettings()
        self.stats = AdmissionStats()
        self._seen: dict[bytes, int] = {}  # scope + packet id -> expiry (ms)
        self._expiries: list[tuple[int, bytes]] = []
        self._floor_ms = 0

    def __len__(self) -> int:
        return len(self._seen)

    def admit(
        self, data: bytes | OutcomePacket, scope: bytes = b"", *, now_ms: int | None = None
    ) -> OutcomePacket:
        """The verified packet in ``data``, or a :class:`PacketError` saying why it was refused."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        packet = self._verified(data)
        self._forget_expired(now)
        expires = packet.expires_at_ms()
        key = scope + packet.id
        if key in self._seen:
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
        return packet

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
            if self._seen.pop(old, None) is not None:
                self._floor_ms = max(self._floor_ms, first)

    def _forget_expired(self, now: int) -> None:
        # An expired packet is refused on its date alone, so its id need not be remembered.
        while self._expiries and self._expiries[0][0] <= now:
            _, key = heapq.heappop(self._expiries)
            self._seen.pop(key, None)
