"""The **authenticity** section: forged, tampered and replayed packets sent straight to an
agent's host, and RPC frames under someone else's key sent to a secured (CurveZMQ) node."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import zmq
import zmq.asyncio

from synthswarm.swarm import tasks
from synthswarm.swarm._host_messages import DELIVER_TOPIC, Outcome, decode_outcome, encode_delivery
from synthswarm.swarm.app.bench._faults_settings import FaultBenchSettings, Progress
from synthswarm.swarm.app.bench.routing import DIMS
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht.curve import CurveKeys, split_address
from synthswarm.swarm.dht.messages import Envelope, Ping, encode_frame
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.dht.transport import request_parts
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet
from synthswarm.swarm.routers.dht import DHTRouter
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

__all__ = ["run"]


def run(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    return tasks.run(_authenticity_async(s, progress))


async def _authenticity_async(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    rng = np.random.default_rng(s.seed)
    alice, mallory, bob = (Identity.from_seed(rng.bytes(32)) for _ in range(3))
    inbox: list[OutcomePacket] = []

    async def deliver(packet: OutcomePacket) -> None:
        inbox.append(packet)

    async with launch_swarm(3, settings=DHTSettings(initial_timeout_s=0.5), seed=s.seed) as nodes:
        router = DHTRouter(SemanticHasher(DIMS, LSHSettings()))
        await router.subscribe(bob.id, rng.standard_normal(DIMS), deliver, node=nodes[1])
        sender, host = nodes[0], nodes[1].contact

        async def send(packet: OutcomePacket) -> bool:
            """True when bob's host accepted the packet."""
            payload = encode_delivery(bob.id, packet)
            try:
                reply = await sender.app_request(host, DELIVER_TOPIC, payload, category="attack")
            except DHTError:
                return False
            return decode_outcome(reply) is not Outcome.MISSED

        def valid(i: int, **kw: Any) -> OutcomePacket:
            return make_packet(alice, kind="finding", topic="t", finding=f"finding {i}",
                               embedding=rng.standard_normal(DIMS), **kw)  # fmt: skip

        forged_accepted = 0
        for i in range(s.attacks):
            packet = valid(i)
            attack = [
                dataclasses.replace(packet, finding=packet.finding + "!"),
                dataclasses.replace(packet, confidence=0.5),
                dataclasses.replace(packet, signature=mallory.sign(packet.id)),
                dataclasses.replace(packet, public_key=mallory.public_key),
                dataclasses.replace(packet, signature=rng.bytes(64)),
            ][i % 5]
            forged_accepted += await send(attack)
        progress(f"authenticity: {s.attacks} forged packets sent")
        before = len(inbox)
        originals = [valid(i) for i in range(s.attacks)]
        firsts = [await send(p) for p in originals]
        held = len(inbox)
        for packet in originals:  # from the first copy's sender: answered as it was, never kept twice
            await send(packet)
        replays_accepted = len(inbox) - held
        stale = [
            valid(i, created_at_ms=int(time.time() * 1000) - 5000, ttl_s=1) for i in range(s.attacks // 10)
        ]
        stale_accepted = sum([await send(p) for p in stale])
        progress(f"authenticity: {len(originals) + len(stale)} replays sent")
        impostors = await _impostor_frames(s, rng)
    replays = len(originals) + len(stale)
    return {
        "forged_sent": s.attacks,
        "forged_rejected_rate": round(1 - forged_accepted / s.attacks, 4),
        "originals_accepted": sum(firsts),
        "replayed_sent": replays,
        "replayed_rejected_rate": round(1 - (replays_accepted + stale_accepted) / replays, 4),
        "inbox_after_attacks": len(inbox) - before,
        **impostors,
    }


async def _impostor_frames(s: FaultBenchSettings, rng: np.random.Generator) -> dict[str, Any]:
    """Frames over a valid Curve connection that claim another node's key: none may be answered."""
    settings = DHTSettings(secure=True, initial_timeout_s=0.5)
    async with launch_swarm(3, transport="tcp", settings=settings, seed=s.seed) as nodes:
        mallory = Identity.from_seed(rng.bytes(32))
        keys = CurveKeys.of(mallory)
        endpoint, server_key = split_address(nodes[0].address)
        ctx = zmq.asyncio.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
        sock.setsockopt(zmq.CURVE_SERVERKEY, server_key or b"")
        sock.connect(endpoint)
        try:
            victim = nodes[1].identity.public_key
            mine = f"tcp://127.0.0.1:1#{keys.public.hex()}"
            for _ in range(s.attacks):
                await sock.send_multipart(
                    request_parts(encode_frame(Envelope(rng.bytes(8), victim, mine, Ping())))
                )
            await sock.send_multipart(
                request_parts(encode_frame(Envelope(rng.bytes(8), mallory.public_key, mine, Ping())))
            )
            answered = 0
            while await sock.poll(1000):
                (await sock.recv_multipart())[-1]
                answered += 1
        finally:
            sock.close(linger=0)
            ctx.term()
        dropped = nodes[0].stats.impostors
    # The last frame was honest: exactly one answer is expected.
    return {"impostor_frames_sent": s.attacks, "impostor_rejected_rate": round(dropped / s.attacks, 4),
            "honest_frame_answered": answered == 1}  # fmt: skip
