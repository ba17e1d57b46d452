"""Admission of received packets: forged, tampered, replayed, expired and future-dated ones refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synthswarm.swarm.admission import AdmissionSettings, PacketAdmission
from synthswarm.swarm.errors import (
    ConfigError,
    PacketExpiredError,
    PacketMalformedError,
    PacketReplayError,
    PacketSignatureError,
)
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import encode_packet, make_packet

ALICE, MALLORY = Identity.from_seed(b"\x01" * 32), Identity.from_seed(b"\x02" * 32)
NOW = 1_800_000_000_000


def packet_bytes(created_at_ms: int = NOW, ttl_s: int = 60, finding: str = "f") -> bytes:
    packet = make_packet(
        ALICE, kind="finding", topic="t", finding=finding, embedding=np.ones(8), ttl_s=ttl_s,
        created_at_ms=created_at_ms,
    )  # fmt: skip
    return encode_packet(packet)


def test_a_packet_is_admitted_once_per_receiver() -> None:
    gate, data = PacketAdmission(), packet_bytes()
    assert gate.admit(data, b"bob", now_ms=NOW).finding == "f"
    with pytest.raises(PacketReplayError):
        gate.admit(data, b"bob", now_ms=NOW + 1)
    assert gate.admit(data, b"carol", now_ms=NOW).finding == "f"  # another agent on the same host
    assert (gate.stats.admitted, gate.stats.replayed) == (2, 1)


def test_forged_and_tampered_packets_are_counted_as_forged() -> None:
    gate = PacketAdmission()
    packet = make_packet(
        ALICE, kind="finding", topic="t", finding="true", embedding=np.ones(8), created_at_ms=NOW
    )
    tampered = encode_packet(dataclasses.replace(packet, finding="false"))
    # Mallory signs her own body but claims Alice's key: the signature cannot verify.
    forged = encode_packet(dataclasses.replace(packet, signature=MALLORY.sign(packet.id)))
    for data in (tampered, forged):
        with pytest.raises(PacketSignatureError):
            gate.admit(data, now_ms=NOW)
    with pytest.raises(PacketMalformedError):
        gate.admit(b"\x93\x01", now_ms=NOW)
    assert (gate.stats.forged, gate.stats.malformed, gate.stats.admitted) == (2, 1, 0)


def test_expired_and_future_packets_are_refused() -> None:
    gate = PacketAdmission(AdmissionSettings(max_clock_skew_s=10))
    with pytest.raises(PacketExpiredError, match="expired"):
        gate.admit(packet_bytes(created_at_ms=NOW - 61_000), now_ms=NOW)
    with pytest.raises(PacketExpiredError, match="future"):
        gate.admit(packet_bytes(created_at_ms=NOW + 11_000), now_ms=NOW)
    gate.admit(packet_bytes(created_at_ms=NOW + 9_000), now_ms=NOW)
    assert gate.stats.expired == 2


def test_replay_memory_is_bounded_and_never_readmits_a_forgotten_packet() -> None:
    gate = PacketAdmission(AdmissionSettings(replay_capacity=4))
    sent = [packet_bytes(created_at_ms=NOW + i, finding=f"f{i}") for i in range(10)]
    for data in sent:
        gate.admit(data, now_ms=NOW)
    assert len(gate) == 4
    # Every earlier packet is refused: remembered ones as replays, forgotten ones below the floor.
    for data in sent:
        with pytest.raises((PacketReplayError, PacketExpiredError)):
            gate.admit(data, now_ms=NOW)
    assert gate.stats.admitted == 10
    # Packets forget themselves when they expire, so memory does not fill with dead ids.
    gate.admit(packet_bytes(created_at_ms=NOW + 100, finding="late", ttl_s=3600), now_ms=NOW + 70_000)
    assert len(gate) == 1


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="replay_capacity"):
        AdmissionSettings(replay_capacity=0)
