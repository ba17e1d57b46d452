"""The **soak** section: many packets through one swarm, the process's resident memory sampled, and
its rate set against the raw pyzmq message rate of the same run (this machine's speed moves between
days; the ratio carries)."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import numpy as np

from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench._faults_settings import FaultBenchSettings, Progress
from synthswarm.swarm.app.bench._faults_world import World
from synthswarm.swarm.app.bench._raw_zmq import message_rate
from synthswarm.swarm.app.bench._report import status_kib
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.dht.testing import launch_swarm

__all__ = ["run"]


def run(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    return tasks.run(_soak_async(s, progress))


def _rss_mb() -> float:
    """Resident memory now, in MB (where ``/proc`` has none: the peak, as getrusage gives it)."""
    kib = status_kib("VmRSS:")
    if kib is not None:
        return kib / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _soak_async(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    rng = np.random.default_rng(s.seed + 11)
    progress("soak: raw pyzmq message rate")
    raw_rate = message_rate("inproc")  # the soak's nodes talk over inproc://
    async with launch_swarm(
        s.soak_nodes,
        settings=DHTSettings(initial_timeout_s=0.5),
        seed=s.seed,
        shared=s.soak_hosts == "shared",
    ) as nodes:
        world = await World.build(nodes, s.seed)
        world.keep_receipts = False
        n, agents = s.soak_packets, len(nodes)
        samples: list[tuple[int, float]] = []
        warm = max(1, n // 10)
        sent, started, cpu = 0, time.perf_counter(), time.process_time()
        while sent < n:
            batch = min(32, n - sent)
            publishers = rng.integers(0, agents, batch)
            targets_ = rng.integers(0, agents, batch)
            packets = [
                world.packet(int(p), int(t), ttl_s=30) for p, t in zip(publishers, targets_, strict=True)
            ]
            await asyncio.gather(*(world.router.publish(pk, publisher=world.identities[int(p)].id)
                                   for pk, p in zip(packets, publishers, strict=True)))  # fmt: skip
            sent += batch
            if sent % warm < batch or sent == n:
                gc.collect()
                samples.append((sent, round(_rss_mb(), 1)))
                rate = sent / (time.perf_counter() - started)
                progress(f"soak: {sent}/{n} packets, {rate:.0f}/s, rss {samples[-1][1]} MB")
        elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        deliveries = world.deliveries
    after_warm = samples[0][1]
    return {
        "soak_packets": sent,
        "soak_nodes": s.soak_nodes,
        "soak_hosts": s.soak_hosts,
        "soak_deliveries": deliveries,
        "soak_packets_per_s": round(sent / elapsed, 1),
        "soak_packets_per_cpu_s": round(sent / cpu_s, 1),
        "zmq_msgs_per_s": raw_rate,
        "soak_over_zmq_msg_rate": round(sent / elapsed / raw_rate, 6),
        "soak_rss_mb_samples": samples,
        "soak_rss_after_warmup_mb": after_warm,
        "soak_rss_growth_mb": round(samples[-1][1] - after_warm, 1),
        "soak_rss_max_mb": max(v for _, v in samples),
    }
