"""The **partition** section: the swarm cut in two while packets cross the cut, then healed; the
publisher's outbox retries what was held back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench._faults_settings import FaultBenchSettings, Progress
from synthswarm.swarm.app.bench._faults_world import World
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht.testing import heal, launch_swarm, partition

__all__ = ["run"]


def run(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    return tasks.run(_partition_async(s, progress))


async def _partition_async(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    rng = np.random.default_rng(s.seed + 7)
    async with launch_swarm(s.nodes, settings=DHTSettings(initial_timeout_s=0.5), seed=s.seed) as nodes:
        world = await World.build(nodes, s.seed)
        half = len(nodes) // 2
        left, right = list(range(half)), list(range(half, len(nodes)))
        partition([nodes[i] for i in left], [nodes[i] for i in right])
        progress(f"partition: two halves of {half}; publishing {s.packets} packets across the cut")
        pairs = []
        for _ in range(s.packets):
            a, b = int(rng.choice(left)), int(rng.choice(right))
            pairs.append((a, b) if rng.random() < 0.5 else (b, a))
        sent = await world.publish_addressed(pairs)
        during = world.reached(sent)
        queued = len(world.router.outbox)
        heal(nodes)
        progress(f"partition: healed; retrying {queued} held deliveries")
        t0 = time.perf_counter()
        while len(world.router.outbox) and time.perf_counter() - t0 < 120:
            await world.router.retry_pending()
            if len(world.router.outbox):
                await asyncio.sleep(1.0)  # back-offs from the partition run out
        heal_s = time.perf_counter() - t0
        reached = world.reached(sent)
    return {
        "partition_packets": len(pairs),
        "partition_delivered_during": round(during, 4),
        "partition_held_for_retry": queued,
        "partition_delivered_after_heal": round(reached, 4),
        "partition_lost": len(pairs) - round(reached * len(pairs)),
        "partition_outbox_dropped": world.router.outbox.stats.dropped,
        "partition_heal_s": round(heal_s, 1),
    }
