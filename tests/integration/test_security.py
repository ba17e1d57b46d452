"""Secured swarms (CurveZMQ bound to node identities), impostors, floods, and forged or replayed packets
over real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zmq
import zmq.asyncio

from synthswarm.swarm.dht import DHTNode, DHTSettings, key_for
from synthswarm.swarm.dht.curve import CurveKeys, split_address
from synthswarm.swarm.dht.limits import PeerLimits
from synthswarm.swarm.dht.messages import AppRequest, Envelope, Ping, decode_frame, encode_frame
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.dht.transport import request_parts
from synthswarm.swarm.errors import BootstrapError, ConfigError, DHTError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet
from synthswarm.swarm.routers import make_router
from synthswarm.swarm.routers._base import DELIVER_TOPIC, encode_delivery
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

SECURE = DHTSettings(secure=True, initial_timeout_s=0.5, bootstrap_timeout_s=2.0)


async def test_a_secured_swarm_stores_and_finds_over_curve() -> None:
    async with launch_swarm(8, transport="tcp", settings=SECURE, seed=1) as nodes:
        assert all(split_address(n.address)[1] == CurveKeys.of(n.identity).public for n in nodes)
        result = await nodes[1].put(key_for("secret"), b"only over curve")
        assert result.stored == 8
        assert (await nodes[7].get(key_for("secret"))).values == [b"only over curve"]
        assert sum(n.stats.impostors for n in nodes) == 0


async def test_a_secured_swarm_outlives_its_first_node() -> None:
    async with launch_swarm(4, transport="tcp", settings=SECURE, seed=6) as nodes:
        await nodes[0].kill()  # the first node must not take the swarm's authentication with it
        late = await DHTNode.create(bootstrap=[nodes[1].address], settings=SECURE)
        try:
            await late.put(key_for("after"), b"still secured")
            assert (await nodes[3].get(key_for("after"))).values == [b"still secured"]
        finally:
            await late.close(handoff=False)


async def test_an_unsecured_node_cannot_join_a_secured_swarm() -> None:
    async with launch_swarm(2, transport="tcp", settings=SECURE, seed=2) as nodes:
        plain = DHTSettings(initial_timeout_s=0.3, bootstrap_timeout_s=1.0)
        with pytest.raises(BootstrapError, match=r"secure=True"):
            await DHTNode.create(bootstrap=[nodes[0].address], settings=plain)
        endpoint = split_address(nodes[0].address)[0]
        with pytest.raises(BootstrapError, match="#<curve key>"):
            await DHTNode.create(bootstrap=[endpoint], settings=plain)
        with pytest.raises(ConfigError, match="inproc"):
            await DHTNode.create(listen="inproc://nope", settings=SECURE)


async def raw_client(ctx: zmq.asyncio.Context, server: str, keys: CurveKeys | None) -> zmq.asyncio.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    endpoint, server_key = split_address(server)
    if keys is not None:
        assert server_key is not None
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
        sock.setsockopt(zmq.CURVE_SERVERKEY, server_key)
    sock.connect(endpoint)
    return sock


async def answered(sock: zmq.asyncio.Socket, wait_s: float = 1.0) -> bool:
    return bool(await sock.poll(int(wait_s * 1000)))


async def test_a_request_under_someone_elses_key_is_dropped() -> None:
    async with launch_swarm(2, transport="tcp", settings=SECURE, seed=3) as nodes:
        target, victim = nodes[0], nodes[1]
        mallory = Identity.generate()
        ctx = zmq.asyncio.Context()
        sock = await raw_client(ctx, target.address, CurveKeys.of(mallory))
        try:
            # Mallory's connection proves her key, but the frame claims the victim's.
            mine = f"tcp://127.0.0.1:1#{CurveKeys.of(mallory).public.hex()}"
            await sock.send_multipart(
                request_parts(encode_frame(Envelope(os.urandom(8), victim.identity.public_key, mine, Ping())))
            )
            assert not await answered(sock)
            assert target.stats.impostors == 1
            # Her own key, with an address that advertises someone else's Curve key: dropped too.
            theirs = victim.address
            await sock.send_multipart(
                request_parts(encode_frame(Envelope(os.urandom(8), mallory.public_key, theirs, Ping())))
            )
            assert not await answered(sock)
            assert target.stats.impostors == 2
            # Honest about both, she is answered.
            await sock.send_multipart(
                request_parts(encode_frame(Envelope(os.urandom(8), mallory.public_key, mine, Ping())))
            )
            assert await answered(sock)
            assert type(decode_frame((await sock.recv_multipart())[-1]).message).__name__ == "Pong"
        finally:
            sock.close(linger=0)
            ctx.term()


async def test_a_flooding_peer_is_throttled_and_others_are_still_served() -> None:
    limits = PeerLimits(requests_per_s=200.0, burst=200, max_app_requests=64, max_app_requests_per_peer=8)
    settings = dataclasses.replace(SECURE, secure=False, limits=limits)
    async with launch_swarm(3, transport="tcp", settings=settings, seed=4) as nodes:
        target, honest = nodes[0], nodes[1]
        flooder = Identity.generate()
        ctx = zmq.asyncio.Context()
        sock = await raw_client(ctx, target.address, None)
        sock.setsockopt(zmq.SNDHWM, 0)
        try:
            frames = [
                encode_frame(Envelope(os.urandom(8), flooder.public_key, "tcp://127.0.0.1:1", Ping()))
                for _ in range(5000)
            ]
            for frame in frames:
                await sock.send_multipart(request_parts(frame))
            # While the flood is read, an honest peer's requests are answered.
            rtts = [await honest.ping(target.contact) for _ in range(20)]
            assert max(rtts) < 1.0
            for _ in range(100):
                if target.stats.rate_limited + target.stats.rpcs_served >= 5000:
                    break
                await asyncio.sleep(0.05)
            assert target.stats.rate_limited >= 4000  # the burst and the rate let ~200-400 through
            # Application requests beyond the flooder's slots are refused as busy, not queued.
            flood_app = AppRequest("slow", b"")
            gate = asyncio.Event()

            async def slow(_: object, __: bytes) -> bytes:
                await gate.wait()
                return b"done"

            target.register_app("slow", slow)
            flooder2 = Identity.generate()
            for _ in range(20):
                await sock.send_multipart(
                    request_parts(
                        encode_frame(
                            Envelope(os.urandom(8), flooder2.public_key, "tcp://127.0.0.1:1", flood_app)
                        )
                    )
                )
            for _ in range(100):
                if target.stats.busy_refused >= 12:
                    break
                await asyncio.sleep(0.05)
            assert target.stats.busy_refused == 12
            gate.set()
        finally:
            sock.close(linger=0)
            ctx.term()


async def test_forged_tampered_and_replayed_packets_never_reach_an_agent() -> None:
    async with launch_swarm(3, settings=DHTSettings(initial_timeout_s=0.5), seed=5) as nodes:
        router = make_router("dht", nodes, hasher=SemanticHasher(16, LSHSettings()), m=4)
        inbox: list[OutcomePacket] = []

        async def deliver(packet: OutcomePacket) -> None:
            inbox.append(packet)

        alice, bob = Identity.generate(), Identity.generate()
        await router.subscribe(bob.id, np.ones(16), deliver, node=nodes[1])
        packet = make_packet(alice, kind="finding", topic="t", finding="true", embedding=np.ones(16))
        attacks = [
            dataclasses.replace(packet, finding="false"),  # tampered
            dataclasses.replace(packet, signature=Identity.generate().sign(packet.id)),  # forged
        ]
        for bad in attacks:
            with pytest.raises(DHTError, match="rejected packet"):
                await nodes[0].app_request(nodes[1].contact, DELIVER_TOPIC, encode_delivery(bob.id, bad))
        payload = encode_delivery(bob.id, packet)
        replies = [await nodes[0].app_request(nodes[1].contact, DELIVER_TOPIC, payload) for _ in range(5)]
        assert [p.finding for p in inbox] == ["true"]
        assert replies[1:] == [replies[0]] * 4  # every replay answered as the first copy was
        stats = router.stats()
        assert (stats.forged, stats.rejected, stats.duplicates_dropped) == (2, 2, 4)


def test_keys_create_writes_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "node.key"
    run = [sys.executable, "-m", "synthswarm", "keys"]
    made = subprocess.run([*run, "create", str(path)], capture_output=True, text=True, timeout=60, check=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    identity = Identity.load(path)
    assert identity.id.hex() in made.stdout
    assert CurveKeys.of(identity).public.hex() in made.stdout
    again = subprocess.run(
        [*run, "create", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert again.returncode != 0
    assert "--force" in again.stderr
    assert Identity.load(path) == identity  # not overwritten
