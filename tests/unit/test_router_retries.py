"""An interest row whose put no rendezvous node answered is tried again before it counts as lost,
and a lookup that found no one is not cached for the next put of the same key."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synthswarm.swarm.dht import DHTNode, PutResult
from synthswarm.swarm.dht.lookup import LookupResult
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import ConfigError, SubscriptionLostError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket
from synthswarm.swarm.routers import DHTRouter
from synthswarm.swarm.routers.dht import DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher


async def _ignore(packet: OutcomePacket) -> None:
    pass


def _unanswered(node: DHTNode, times: int) -> list[int]:
    """Make the first ``times`` puts of ``node`` come back as if no holder had answered."""
    real = node.put
    calls: list[int] = []

    async def put(key: bytes, value: bytes, **kwargs: object) -> PutResult:
        calls.append(len(calls))
        result = await real(key, value, **kwargs)  # type: ignore[arg-type]
        if len(calls) <= times:
            return dataclasses.replace(result, stored=0, refused=())
        return result

    node.put = put  # type: ignore[method-assign]
    return calls


async def test_a_put_no_one_answered_is_tried_again_and_kept() -> None:
    hasher = SemanticHasher(16, LSHSettings(tables=1, bits=2, probes=0))
    settings = DHTRouterSettings(replicas=4, subscribe_retries=2, subscribe_retry_backoff_s=0.01)
    async with launch_swarm(12, seed=4) as nodes:
        router = DHTRouter(hasher, settings)
        for node in nodes:
            router.serve(node)
        calls = _unanswered(nodes[0], times=2)
        await router.subscribe(Identity.generate().id, np.ones(16, np.float32), _ignore, node=nodes[0])
        stats = router.stats()
        assert len(calls) == 3
        assert stats.subscription_retries == 2
        assert stats.subscriptions_lost == 0


async def test_a_row_still_unanswered_after_its_retries_is_lost_and_said_so() -> None:
    hasher = SemanticHasher(16, LSHSettings(tables=1, bits=2, probes=0))
    settings = DHTRouterSettings(replicas=4, subscribe_retries=1, subscribe_retry_backoff_s=0.01)
    async with launch_swarm(12, seed=4) as nodes:
        router = DHTRouter(hasher, settings)
        for node in nodes:
            router.serve(node)
        calls = _unanswered(nodes[0], times=5)
        with pytest.raises(SubscriptionLostError, match="no rendezvous node answered"):
            await router.subscribe(Identity.generate().id, np.ones(16, np.float32), _ignore, node=nodes[0])
        assert len(calls) == 2
        assert router.stats().subscriptions_lost == 1


async def test_an_empty_lookup_is_not_reused_by_the_next_put() -> None:
    async with launch_swarm(8, seed=2) as nodes:
        node = nodes[0]
        real = node.lookup
        lookups: list[bytes] = []

        async def lookup(key: bytes, **kwargs: object) -> LookupResult:
            lookups.append(key)
            found = await real(key, **kwargs)  # type: ignore[arg-type]
            return dataclasses.replace(found, contacts=()) if len(lookups) == 1 else found

        node.lookup = lookup  # type: ignore[method-assign,assignment]
        key = bytes(32)
        await node.put(key, b"a", subkey=b"1", replicas=4)
        await node.put(key, b"b", subkey=b"2", replicas=4)
        assert len(lookups) == 2  # the empty answer was not cached for the second put
        await node.put(key, b"c", subkey=b"3", replicas=4)
        assert len(lookups) == 2  # a real answer is


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ConfigError, match="subscribe_retries"):
        DHTRouterSettings(subscribe_retries=-1)
