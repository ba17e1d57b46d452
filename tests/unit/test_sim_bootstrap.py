"""A join that knows one address asks it again until the bootstrap timeout, not only ``rpc_retries``
times: two lost messages no longer fail it, and an address that never answers still fails it in
``bootstrap_timeout_s``."""

from __future__ import annotations

import asyncio

from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.errors import BootstrapError
from synthswarm.swarm.sim import NetworkModel, SimNetwork, SimTransport, run_virtual, seeded_identity

SETTINGS = DHTSettings(initial_timeout_s=0.5, bootstrap_timeout_s=5.0, rpc_retries=1)


def test_a_join_outlasts_more_lost_pings_than_rpc_retries_allows() -> None:
    lost, _, joined = run_virtual(_join(deaf_to=3))
    assert lost == 3  # three pings lost, one more than 1 + rpc_retries attempts would have sent
    assert joined


def test_a_bootstrap_that_never_answers_fails_the_join_within_the_bootstrap_timeout() -> None:
    lost, took_s, joined = run_virtual(_join(deaf_to=1_000))
    assert not joined
    assert took_s <= SETTINGS.bootstrap_timeout_s + 0.01
    assert lost == SETTINGS.bootstrap_timeout_s / SETTINGS.initial_timeout_s  # pinged all along


async def _join(deaf_to: int) -> tuple[int, float, bool]:
    """(pings lost, virtual seconds taken, whether the join succeeded) of a node joining through one
    whose first ``deaf_to`` requests are lost on a network that loses nothing else."""
    network = SimNetwork(NetworkModel(loss=0.0))
    host = network.host()
    loop = asyncio.get_running_loop()
    first = await DHTNode.create(settings=SETTINGS, identity=seeded_identity(0, 0), host=host)
    try:
        transport = network.transport(first.address)
        assert transport is not None
        lost = _deafen(transport, deaf_to)
        started = loop.time()
        try:
            second = await DHTNode.create(
                settings=SETTINGS, identity=seeded_identity(0, 1), host=host, bootstrap=[first.address]
            )
        except BootstrapError:
            return lost[0], loop.time() - started, False
        await second.kill()
        return lost[0], loop.time() - started, True
    finally:
        await first.kill()
        host.close()


def _deafen(transport: SimTransport, requests: int) -> list[int]:
    """Make ``transport`` lose the next ``requests`` requests that reach it; returns the count of
    those it lost so far (one item, updated)."""
    lost = [0]
    arrive = transport._arrive

    def deaf(frame: bytes, reply_to: bytes | None) -> bool:
        if reply_to is not None and lost[0] < requests:
            lost[0] += 1
            return True
        return arrive(frame, reply_to)

    transport._arrive = deaf  # type: ignore[method-assign]
    return lost
