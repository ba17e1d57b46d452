"""A node's back-off from a failed peer, and its rate limit on a flooding one, run on the event loop's
clock: wall time in a real swarm, virtual seconds in a simulation. On wall time, a simulation that
jumps a minute in a millisecond kept a peer backed off (or a flooder limited) for many virtual
minutes, by an amount that depended on how fast the machine ran."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.limits import PeerLimits
from synthswarm.swarm.errors import RPCTimeoutError
from synthswarm.swarm.sim import NetworkModel, SimHost, SimNetwork, run_virtual, seeded_identity

SETTINGS = DHTSettings(initial_timeout_s=0.5, bootstrap_timeout_s=2.0, rpc_retries=1)


def test_a_failed_peer_is_backed_off_for_virtual_seconds() -> None:
    backed_off, answered_after = run_virtual(_back_off())
    assert backed_off  # at once after the failure
    assert answered_after  # and asked again once a virtual minute passed


def test_a_flooding_peer_gets_tokens_back_in_virtual_seconds() -> None:
    limited, after = run_virtual(_flood())
    assert limited == 1  # one request past the burst went unanswered
    assert after == 0  # a virtual second later the bucket had refilled


async def _back_off() -> tuple[bool, bool]:
    network = SimNetwork(NetworkModel(loss=0.0))
    host = network.host()
    loop = asyncio.get_running_loop()
    nodes = [
        await DHTNode.create(settings=SETTINGS, identity=seeded_identity(1, i), host=host) for i in (0, 1)
    ]
    first, second = nodes
    try:
        transport = network.transport(first.address)
        assert transport is not None
        arrive = transport._arrive
        transport._arrive = lambda frame, reply_to: reply_to is None and arrive(frame, reply_to)  # type: ignore[method-assign]
        with pytest.raises(RPCTimeoutError):
            await second._client.ping_address(first.address)
        backed_off = second._client.health_of(first.address).backed_off(now=loop.time())
        transport._arrive = arrive  # type: ignore[method-assign]
        await asyncio.sleep(60.0)  # virtual: past any back-off of one failure
        contact = await second._client.ping_address(first.address)
        return backed_off, contact.node_id == first.node_id
    finally:
        for node in nodes:
            await node.kill()
        host.close()


async def _flood() -> tuple[int, int]:
    limits = dataclasses.replace(PeerLimits(), requests_per_s=10.0, burst=5)
    settings = dataclasses.replace(SETTINGS, limits=limits)
    network = SimNetwork(NetworkModel(loss=0.0))
    host = network.host()
    nodes = [
        await DHTNode.create(settings=settings, identity=seeded_identity(2, i), host=host) for i in (0, 1)
    ]
    first, second = nodes
    try:
        burst = [second._client.ping_address(first.address) for _ in range(limits.burst + 1)]
        await asyncio.gather(*burst, return_exceptions=True)
        limited = first.stats.rate_limited
        await asyncio.sleep(1.0)  # virtual: ten tokens' worth
        await second._client.ping_address(first.address)
        return limited, first.stats.rate_limited - limited
    finally:
        for node in nodes:
            await node.kill()
        host.close()


async def _pair(settings: DHTSettings, host: SimHost, seed: int) -> list[DHTNode]:
    """Two nodes on ``host`` that have not joined: each is asked by address only."""
    return [
        await DHTNode.create(settings=settings, identity=seeded_identity(seed, index), host=host)
        for index in (0, 1)
    ]
