"""The **churn** section: 20%, then 50%, of a swarm's nodes killed abruptly while it publishes;
delivery and lookup success before, during and after the survivors' repair."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench._faults_settings import FaultBenchSettings, Progress
from synthswarm.swarm.app.bench._faults_world import World
from synthswarm.swarm.dht import DHTNode, DHTSettings, key_for
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import DHTError

__all__ = ["run"]


def run(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fraction in (0.2, 0.5):
        out.update(tasks.run(_churn_async(s, fraction, progress)))
    return out


def _pairs(rng: np.random.Generator, alive: list[int], n: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(n):
        p, t = rng.choice(alive, size=2, replace=False)
        out.append((int(p), int(t)))
    return out


async def _churn_async(s: FaultBenchSettings, fraction: float, progress: Progress) -> dict[str, Any]:
    tag = f"churn{round(fraction * 100)}"
    rng = np.random.default_rng(s.seed + round(fraction * 100))
    settings = DHTSettings(initial_timeout_s=0.5)
    async with launch_swarm(s.nodes, settings=settings, seed=s.seed) as nodes:
        progress(f"{tag}: {s.nodes} agents subscribing")
        world = await World.build(nodes, s.seed)
        keys = [key_for("churn", str(i)) for i in range(s.nodes)]
        for key in keys:
            await nodes[int(rng.integers(len(nodes)))].put(key, key[:8], republish=False)
        alive = list(range(len(nodes)))
        baseline = world.reached(await world.publish_addressed(_pairs(rng, alive, s.packets // 4)))
        progress(f"{tag}: publishing while {fraction:.0%} of the nodes are killed")
        victims = set(rng.choice(alive, size=round(fraction * len(nodes)), replace=False).tolist())
        survivors = [i for i in alive if i not in victims]
        pairs = _pairs(rng, survivors, s.packets // 2)
        half = len(pairs) // 2
        # Half the packets are in flight (walking to rendezvous, delivering) when the nodes die.
        in_flight = asyncio.ensure_future(world.publish_addressed(pairs[:half], concurrency=half))
        await asyncio.sleep(0.01)
        await asyncio.gather(*(nodes[v].kill() for v in victims))
        sent = await in_flight + await world.publish_addressed(pairs[half:])
        during = world.reached(sent)
        lookups_before_repair = await _lookups(nodes, survivors, keys, rng)
        progress(f"{tag}: repairing (survivors re-announce their records)")
        t0 = time.perf_counter()
        await asyncio.gather(*(nodes[i].republish() for i in survivors))
        repair_s = time.perf_counter() - t0
        progress(f"{tag}: publishing {s.packets} packets after repair")
        after = world.reached(await world.publish_addressed(_pairs(rng, survivors, s.packets)))
        lookups = await _lookups(nodes, survivors, keys, rng)
    return {
        f"{tag}_killed": len(victims),
        f"{tag}_delivery_before_kill": round(baseline, 4),
        f"{tag}_delivery_during_kill": round(during, 4),
        f"{tag}_delivery_rate": round(after, 4),
        f"{tag}_lookup_success_before_repair": round(lookups_before_repair, 4),
        f"{tag}_lookup_success": round(lookups, 4),
        f"{tag}_repair_s": round(repair_s, 1),
    }


async def _lookups(
    nodes: list[DHTNode], alive: list[int], keys: list[bytes], rng: np.random.Generator
) -> float:
    async def one(key: bytes) -> bool:
        try:
            result = await nodes[int(rng.choice(alive))].get(key)
        except DHTError:
            return False
        return result.values == [key[:8]]

    found = await asyncio.gather(*(one(k) for k in keys))
    return sum(found) / len(keys)
