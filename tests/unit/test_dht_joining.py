"""A node that is joining does not answer for keys it holds nothing under until its nearest nodes have
welcomed it, and a welcome already given is not given twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from synthswarm.swarm.dht import DHTNode, key_for
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.routers._rendezvous import holds

KEY = key_for("test", "welcome")


def _welcomed(node: DHTNode) -> bool:
    return node.welcomed


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for ``condition`` (a state the nodes reach on their own tasks); fail after ``timeout_s``."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not hold in time")


async def test_a_joining_node_answers_for_an_empty_key_only_once_welcomed() -> None:
    async with launch_swarm(4, seed=11, transport="tcp") as nodes:
        newcomer = await DHTNode.create(listen="tcp://127.0.0.1:*")
        key = newcomer.node_id  # the newcomer will be the node closest to it
        for node in nodes:
            node.store.put(key, Record(b"row", b"subscriber", 600), replicas=2)
        release = asyncio.Event()
        for node in nodes:  # hold every welcome, pushed or asked for, until released
            give = node._welcomes._give

            async def held(contact: Contact, give=give) -> None:  # type: ignore[no-untyped-def]
                await release.wait()
                await give(contact)

            node._welcomes._give = held  # type: ignore[method-assign]
        try:
            joining = asyncio.ensure_future(newcomer.bootstrap([nodes[0].address]))
            await _until(lambda: any(newcomer.node_id in n._welcomes._running for n in nodes))
            assert not _welcomed(newcomer)
            assert not newcomer.store.holds(key)
            assert newcomer.is_among_closest(key, newcomer.table.closest(key, 2), 2)
            assert not holds(newcomer, key, 2)  # before: True, and it answered with no subscribers
            release.set()
            await joining
            assert _welcomed(newcomer)
            assert newcomer.store.holds(key)
            assert holds(newcomer, key, 2)
        finally:
            release.set()
            await newcomer.close(handoff=False)


async def test_a_first_node_and_a_joined_node_answer_for_their_keys() -> None:
    async with launch_swarm(3, seed=12) as nodes:
        assert all(n.welcomed for n in nodes)
        assert holds(nodes[1], nodes[1].node_id, 1)  # among the closest, nothing held: no one has more


async def test_a_welcome_already_pushed_is_not_sent_again_when_asked_for() -> None:
    async with launch_swarm(2, seed=13, transport="tcp") as (holder, other):
        both = (holder, other)
        for node in both:
            node.store.put(KEY, Record(b"s", b"v", 600))
        newcomer = await DHTNode.create(listen="tcp://127.0.0.1:*")
        try:
            before = sum(n.stats.rpcs_sent.get("welcome", 0) for n in both)
            # Each holder pushes when it first hears of the newcomer, and is asked once it has joined.
            await newcomer.bootstrap([holder.address])
            await _until(lambda: not any(n._welcomes._running for n in both))
            assert newcomer.store.holds(KEY)
            sent = sum(n.stats.rpcs_sent.get("welcome", 0) for n in both) - before
            asked = newcomer.stats.rpcs_sent.get("bootstrap", 0)
            assert asked == 3  # a ping to join, then it asked both for its welcome
            assert sent == 1  # one store of the record, by the holder closest to its key: not again
            await holder._welcomes.on_request(newcomer.contact, b"")
            assert sum(n.stats.rpcs_sent.get("welcome", 0) for n in both) - before == sent
        finally:
            await newcomer.close(handoff=False)


async def test_a_node_holding_rows_of_a_key_it_is_not_among_the_closest_of_points_closer() -> None:
    """A put whose lookup stopped early can leave rows on a node just outside a key's closest; that
    node holds only those rows, so it must not answer for the key as its rendezvous."""
    async with launch_swarm(6, seed=14) as nodes:
        key = nodes[0].node_id
        far = max(
            nodes[1:], key=lambda n: int.from_bytes(bytes(a ^ b for a, b in zip(n.node_id, key, strict=True)))
        )
        far.store.put(key, Record(b"row", b"subscriber", 600), replicas=2)
        assert far.store.holds(key)
        assert not far.is_among_closest(key, far.table.closest(key, 2), 2)
        assert not holds(far, key, 2)  # before: True, and it answered with its one row
        assert holds(nodes[0], key, 2)
