"""Welcoming a newcomer, and handing records off on leaving, work per key: a rendezvous key holds
hundreds of records, and a node learns of new nodes all the time while a swarm subscribes."""

from __future__ import annotations

from collections.abc import Sequence

from synthswarm.swarm.dht import DHTNode, key_for
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.dht.testing import launch_swarm


def count_closest(node: DHTNode) -> list[bytes]:
    """Record every key ``node``'s routing table is asked for the closest contacts of."""
    real = node.table.closest
    asked: list[bytes] = []

    def closest(target: bytes, count: int | None = None, *, exclude: bytes | None = None) -> list[Contact]:
        asked.append(target)
        return real(target, count, exclude=exclude)

    node.table.closest = closest  # type: ignore[method-assign]
    return asked


def fill(node: DHTNode, keys: Sequence[bytes], records: int) -> set[tuple[bytes, bytes]]:
    held = set()
    for i in range(records):
        key = keys[i % len(keys)]
        node.store.put(key, Record(f"s{i}".encode(), b"v", 600))
        held.add((key, f"s{i}".encode()))
    return held


async def test_a_welcome_finds_each_keys_neighbourhood_once_and_sends_every_record() -> None:
    async with launch_swarm(2, seed=5) as (holder, newcomer):
        keys = [key_for("rendezvous", str(i)) for i in range(4)]
        expected = fill(holder, keys, 400)
        asked = count_closest(holder)
        await holder._replication.welcome(newcomer.contact)
        assert sorted(asked) == sorted(keys)  # 4 lookups in the table, not 400
        assert {(key, r.subkey) for key, r in newcomer.store.items()} >= expected


async def test_a_hand_off_finds_each_keys_neighbourhood_once() -> None:
    async with launch_swarm(3, seed=6) as nodes:
        leaving = nodes[0]
        keys = [key_for("handoff", str(i)) for i in range(3)]
        expected = fill(leaving, keys, 300)
        asked = count_closest(leaving)
        await leaving.close(handoff=True)
        assert sorted(asked) == sorted(keys)
        for node in nodes[1:]:
            assert {(key, r.subkey) for key, r in node.store.items()} >= expected
