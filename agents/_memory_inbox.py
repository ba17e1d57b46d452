"""How received packets are kept in the inbox: the entry a packet becomes (its wire bytes ride in the
metadata), the packet read back from an entry, and which entries go when the inbox is over its limit:
expired packets first, then the packets received longest ago (first in, first out)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from synthswarm.agents._memory_store import MemoryHit
from synthswarm.swarm.errors import PacketError
from synthswarm.swarm.packet import OutcomePacket, decode_packet, encode_packet

__all__ = ["PacketHit", "entry_metadata", "eviction_victims", "packet_of"]


@dataclass(frozen=True)
class PacketHit:
    packet: OutcomePacket
    score: float


def entry_metadata(packet: OutcomePacket, received_ms: int) -> dict[str, str | int | float | bool]:
    """The metadata of ``packet``'s inbox entry: what ``where`` filters on, and the packet itself."""
    return {
        "origin": packet.origin.hex(),
        "kind": str(packet.kind),
        "topic": packet.topic,
        "depth": packet.depth,
        "received_ms": received_ms,
        "expires_ms": packet.expires_at_ms(),
        "packet": base64.b64encode(encode_packet(packet)).decode(),
    }


def packet_of(hit: MemoryHit) -> OutcomePacket | None:
    """The packet kept with an inbox entry; None if the entry is damaged (it was verified on receipt)."""
    try:
        return decode_packet(base64.b64decode(str(hit.metadata.get("packet", ""))), verify=False)
    except (PacketError, ValueError):
        return None


def eviction_victims(items: Sequence[MemoryHit], excess: int, now_ms: int) -> list[str]:
    """The ids to delete from ``items`` to drop ``excess`` entries: every expired one, or, when fewer
    than ``excess`` have expired, those and then the earliest received."""
    expired = [h.id for h in items if int(h.metadata.get("expires_ms", 0)) <= now_ms]
    live = sorted(
        (h for h in items if h.id not in set(expired)), key=lambda h: int(h.metadata["received_ms"])
    )
    return (expired + [h.id for h in live])[:excess] if len(expired) < excess else expired
