"""Admission of received packets: forged, tampered, replayed, expired and future-dated ones refused;
a request sent again by its sender answered as the first copy was."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from synthswarm.swarm._host_messages import Outcome
from synthswarm.swarm.admission import AdmissionSettings, Admitted, Answer, PacketAdmission
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import (
    ConfigError,
    PacketExpiredError,
    PacketMalformedError,
    PacketReplayError,
    PacketSignatureError,
)
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, encode_packet, make_packet
from synthswarm.swarm.routers import RouterStats

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


async def test_a_resend_from_the_first_sender_gets_the_first_answer_and_another_sender_a_refusal() -> None:
    gate, data = PacketAdmission(), packet_bytes()
    first = gate.admit_request(data, b"bob", sender=b"node-1", now_ms=NOW)
    assert isinstance(first, Admitted)
    resend = gate.admit_request(data, b"bob", sender=b"node-1", now_ms=NOW + 1)
    assert resend is first.answer  # the same request again: it will be answered as the first was
    waiting = asyncio.ensure_future(resend.wait())
    await asyncio.sleep(0)
    assert not waiting.done()  # the first copy is still being handled: the resend waits for it
    first.answer.give(2)
    first.answer.give(0)  # only the first answer counts
    assert await waiting == 2
    with pytest.raises(PacketReplayError):
        gate.admit_request(data, b"bob", sender=b"node-2", now_ms=NOW + 1)  # anyone else: a replay
    with pytest.raises(PacketReplayError):
        gate.admit(data, b"bob", now_ms=NOW + 1)
    assert (gate.stats.admitted, gate.stats.resent, gate.stats.replayed, gate.stats.rejected) == (1, 1, 2, 2)


def test_the_first_answers_are_forgotten_with_their_packets() -> None:
    # The answers kept for resends are bounded by the live packets, as the replay memory is: a packet
    # that expires, or is pushed out of a full memory, takes its answer with it.
    gate = PacketAdmission(AdmissionSettings(replay_capacity=4))
    for i in range(6):
        admitted = gate.admit_request(
            packet_bytes(created_at_ms=NOW + i, finding=f"f{i}"), b"bob", sender=b"node-1", now_ms=NOW
        )
        assert isinstance(admitted, Admitted)
        admitted.answer.give(0)
    assert len(gate) == len(gate._answers) == 4  # two pushed out by the capacity, answers and all
    late = packet_bytes(created_at_ms=NOW + 60_000, finding="late")
    gate.admit_request(late, b"bob", sender=b"node-1", now_ms=NOW + 60_010)  # the six have expired
    assert len(gate) == len(gate._answers) == 1
    gate.admit(packet_bytes(created_at_ms=NOW + 200_000), b"bob", now_ms=NOW + 200_000)
    assert (len(gate), len(gate._answers)) == (1, 0)  # the late one expired too; admit keeps no answer


async def test_a_delivery_whose_answer_was_slow_keeps_its_promise_when_it_is_resent() -> None:
    """The deliver RPC times out while the agent decides; the client sends it again. The resend must
    be answered with the agent's promise (FOLLOW_UP), not refused as a replay (MISSED), and the agent
    must see the packet once."""
    resent = asyncio.Event()

    class Watching(PacketAdmission):
        def admit_request(
            self, data: bytes | OutcomePacket, scope: bytes, *, sender: bytes, now_ms: int | None = None
        ) -> Admitted | Answer:
            got = super().admit_request(data, scope, sender=sender, now_ms=now_ms)
            if isinstance(got, Answer):
                resent.set()
            return got

    seen: list[bytes] = []

    async def slow_agent(packet: OutcomePacket) -> bool:
        seen.append(packet.id)
        await resent.wait()  # slower than the first attempt's timeout, whatever the machine
        return True  # it will reply

    settings = DHTSettings(initial_timeout_s=0.5, min_timeout_s=0.5, rpc_retries=1)
    async with launch_swarm(2, settings=settings) as nodes:
        host = NodeHost.on(nodes[1])
        host.admission = Watching()
        host.add(b"bob", slow_agent, RouterStats())
        packet = make_packet(ALICE, kind="query", topic="t", finding="q?", embedding=np.ones(8))
        outcome = await NodeHost.on(nodes[0]).deliver(nodes[1].contact, b"bob", packet, category="test")
        assert outcome is Outcome.FOLLOW_UP
        assert seen == [packet.id]
        assert host.admission.stats.resent == 1
