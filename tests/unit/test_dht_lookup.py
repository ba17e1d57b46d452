"""The iterative lookup over a simulated network: no sockets, every node answers from its own table."""

from __future__ import annotations

import random
from typing import Any

from synthswarm.swarm.dht.ids import Contact, distance
from synthswarm.swarm.dht.lookup import QueryAnswer, iterative_lookup
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.errors import RPCTimeoutError


def network(n: int, seed: int, bucket: int = 8) -> dict[bytes, RoutingTable]:
    rng = random.Random(seed)
    ids = [rng.randbytes(32) for _ in range(n)]
    tables = {i: RoutingTable(i, k=bucket) for i in ids}
    # Each node offers every other to its table in a random order: full buckets keep whoever came
    # first, as in a real swarm, and every node knows all of its nearest neighbours.
    for table in tables.values():
        for other in rng.sample(ids, len(ids)):
            table.add(Contact(other, "inproc://" + other.hex()[:6]))
    return tables


async def run_lookups(tables: dict[bytes, RoutingTable], dead: set[bytes], rounds: int) -> list[float]:
    """Overlap of each lookup's result with the brute-force k closest live nodes."""
    rng = random.Random(9)
    overlaps = []
    for _ in range(rounds):
        target = rng.randbytes(32)

        async def query(contact: Contact, count: int, target: bytes = target) -> QueryAnswer:
            if contact.node_id in dead:
                raise RPCTimeoutError("dead")
            return QueryAnswer(tuple(tables[contact.node_id].closest(target, count)))

        start = rng.choice([i for i in tables if i not in dead])
        result = await iterative_lookup(
            target, tables[start].closest(target, 8), query, own_id=start, k=8, alpha=3
        )
        live = [i for i in tables if i not in dead and i != start]
        expected = sorted(live, key=lambda i: distance(i, target))[:8]
        found = [c.node_id for c in result.contacts]
        assert not set(found) & dead
        assert found == sorted(found, key=lambda i: distance(i, target))
        assert result.hops >= 1
        overlaps.append(len(set(found) & set(expected)) / 8)
    return overlaps


async def test_lookup_finds_exactly_the_k_closest() -> None:
    assert await run_lookups(network(300, seed=3), set(), rounds=20) == [1.0] * 20


async def test_lookup_routes_around_dead_nodes() -> None:
    tables = network(300, seed=3)
    # A tenth of the nodes are dead but still listed in every table: answers spend places on them,
    # and the lookup must ask again for spares to find all 8 closest live nodes.
    overlaps = await run_lookups(tables, set(list(tables)[:30]), rounds=20)
    assert overlaps == [1.0] * 20


async def test_value_lookup_stops_at_the_first_holder() -> None:
    tables = network(100, seed=4)
    holder = next(iter(tables))
    target = holder  # the holder is the node closest to the key

    async def query(contact: Contact, count: int) -> QueryAnswer:
        records = (Record(b"", b"found", 60),) if contact.node_id == holder else ()
        return QueryAnswer(tuple(tables[contact.node_id].closest(target, count)), records)

    start = list(tables)[-1]
    result = await iterative_lookup(
        target, tables[start].closest(target, 8), query, own_id=start, k=8, alpha=3, want_value=True
    )
    assert [r.value for r in result.records] == [b"found"]
    assert result.holder is not None
    assert result.holder.node_id == holder


async def exact_8_rpcs(
    tables: dict[bytes, RoutingTable], rounds: int, seed: int, seeds: int, variants: list[dict[str, Any]]
) -> list[int]:
    """Look up ``rounds`` random targets from random nodes once per variant (extra arguments of
    :func:`iterative_lookup`); each must find exactly the true 8 closest. Requests per variant."""
    rng = random.Random(seed)
    rpcs = [0] * len(variants)
    for _ in range(rounds):
        target, start = rng.randbytes(32), rng.choice(list(tables))

        async def query(contact: Contact, count: int, target: bytes = target) -> QueryAnswer:
            return QueryAnswer(tuple(tables[contact.node_id].closest(target, count)))

        expected = sorted((i for i in tables if i != start), key=lambda i: distance(i, target))[:8]
        for i, extra in enumerate(variants):
            found = await iterative_lookup(
                target, tables[start].closest(target, seeds), query, own_id=start, k=8, alpha=3, **extra
            )
            assert [c.node_id for c in found.contacts] == expected, extra
            rpcs[i] += found.rpcs
    return rpcs


async def test_a_lookup_that_stores_stops_once_the_closest_has_answered() -> None:
    """``confirm=1``: the nearest node to the target names its neighbourhood, so the lookup ends
    after it answers; the k it returns are still the true k closest, in fewer requests."""
    full, quick = await exact_8_rpcs(network(300, seed=4), 20, seed=5, seeds=8, variants=[{}, {"confirm": 1}])
    assert quick < full / 2


async def test_buckets_twice_the_count_let_a_near_answerer_end_the_lookup() -> None:
    """With buckets of 20 and 8 wanted, the first answerer that is itself among the 8 closest by its
    own answer knows all of them: the lookup ends there, with the true 8, in fewer requests than
    waiting for the nearest to answer."""
    variants: list[dict[str, Any]] = [{"confirm": 1}, {"confirm": 1, "trust_neighbours": True}]
    confirmed, trusted = await exact_8_rpcs(
        network(1000, seed=6, bucket=20), 60, seed=7, seeds=20, variants=variants
    )
    assert trusted < confirmed
