"""The phases of one ``bench simulate`` run: the workload, subscribing every agent (by real
subscribes, or placed where they would store their rows), and publishing the packets.

The publish phase is the same whichever way the rows got there, and whether every node exists from
the start or only from the first request to it: it reads the nodes that exist (``started``) when it
begins and when it ends, and a node started meanwhile counted nothing before."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.app.bench._report import percentile, skew
from synthswarm.swarm.app.bench._workload import DIMS, ROUTING, Deliveries, Workload, nearest, recall_at
from synthswarm.swarm.dht import DHTNode, requests_by_category
from synthswarm.swarm.routers import DHTRouter, DHTRouterSettings, subscribe_in_batches
from synthswarm.swarm.routers.dht import spilled_keys
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher
from synthswarm.swarm.sim import (
    MatrixBudget,
    PlacedRouter,
    PlacedRows,
    SwarmIds,
    place_rows,
    row_value,
    serve_within,
)

__all__ = ["place_all", "publish_all", "recall_bound", "router_for", "subscribe_all"]

Progress = Callable[[str], None]
#: The nodes that exist now, by index (node i hosts agent i).
Started = Callable[[], Mapping[int, DHTNode]]


def router_for(m: int, lsh: LSHSettings, placed: bool) -> DHTRouter:
    """The benchmark's router: every packet to the ``m`` best, whatever their score."""
    cls = PlacedRouter if placed else DHTRouter
    return cls(SemanticHasher(DIMS, lsh), DHTRouterSettings(m=m, threshold=-1.0))


async def subscribe_all(
    router: DHTRouter,
    nodes: Sequence[DHTNode],
    w: Workload,
    recorder: Deliveries,
    progress: Progress,
    label: str,
) -> dict[str, Any]:
    """Every agent subscribes its row through ``router`` on its node, a batch at a time."""
    n = len(nodes)
    t0, sent0 = time.perf_counter(), sum(requests_by_category(nodes).values())

    def done(k: int) -> None:
        if k % 4096 == 0 or k == n:
            progress(f"{label}: subscribed {k}/{n} agents")

    rows = [(w.agent_ids[i], w.interests[i], recorder.inbox(i), nodes[i]) for i in range(n)]
    await subscribe_in_batches(router, rows, done=done)
    stats = router.stats()
    return {
        "subscribe": "real",
        "subscribe_messages_per_agent": round((sum(requests_by_category(nodes).values()) - sent0) / n, 1),
        "subscriptions_lost": stats.subscriptions_lost,
        "subscriptions_spilled": stats.subscriptions_spilled,
        "subscribe_s": round(time.perf_counter() - t0, 1),
        "load_skew": skew([len(node.store) for node in nodes]),
    }


def place_all(
    router: PlacedRouter,
    ids: SwarmIds,
    w: Workload,
    recorder: Deliveries,
    per_key: int,
    budget: MatrixBudget,
    m: int,
) -> tuple[Callable[[int, DHTNode], None], dict[str, Any]]:
    """Place every agent's row (:func:`~synthswarm.swarm.sim.place_rows`; ``per_key``: the nodes'
    cap on records under a key): (what a node must do when it starts (take its rows, serve
    rendezvous within ``budget``, host its agent), the figures, :func:`recall_bound` at ``m`` among
    them)."""
    t0 = time.perf_counter()
    s = router.settings
    placed = place_rows(
        router.hasher, w.interests, ids, replicas=s.replicas, per_key=per_key, ttl_s=s.subscription_ttl_s
    )
    values: dict[int, tuple[bytes, bytes]] = {}

    def value(agent: int) -> tuple[bytes, bytes]:
        found = values.get(agent)
        if found is None:
            found = values[agent] = row_value(w.agent_ids[agent], ids.ids[agent], agent, w.interests[agent])
        return found

    def start(index: int, node: DHTNode) -> None:
        placed.fill(node, index, value)
        serve_within(node, budget)
        router.adopt(w.agent_ids[index], recorder.inbox(index), node)

    figures = {
        "subscribe": "placed",
        "subscribe_messages_per_agent": None,
        "subscriptions_lost": placed.lost,
        "subscriptions_spilled": placed.spilled,
        "subscribe_s": round(time.perf_counter() - t0, 1),
        "load_skew": skew(placed.records_held(len(ids))),
        "recall_bound": recall_bound(placed, router.hasher, per_key, m, w),
    }
    return start, figures


async def publish_all(
    router: DHTRouter,
    n: int,
    started: Started,
    w: Workload,
    m: int,
    recorder: Deliveries,
    progress: Progress,
    label: str,
) -> dict[str, Any]:
    """Publish every packet of ``w`` from its publisher, one after another; the figures of
    ``bench simulate``'s module docstring."""
    progress(f"{label}: publishing {len(w.packets)} packets")
    nodes = started()
    before = requests_by_category(nodes.values())
    frames_in0 = {i: node.transport_stats().frames_in for i, node in nodes.items()}
    frames0 = sum(node.transport_stats().frames_out for node in nodes.values())
    recalls, hops = [], []
    t0 = time.perf_counter()
    for packet, (publisher, _) in zip(w.packets, w.plan, strict=True):
        report = await router.publish(packet, publisher=w.agent_ids[publisher])
        hops.append(report.hops)
        recalls.append(recall_at(m, w.interests, packet, publisher, recorder.received[packet.id]))
        if len(recalls) % 20 == 0:
            progress(f"{label}: published {len(recalls)}/{len(w.packets)}, {len(started())} nodes exist")
    publish_s = time.perf_counter() - t0
    nodes = started()
    after = requests_by_category(nodes.values())
    sent = {c: v - before.get(c, 0) for c, v in after.items() if v > before.get(c, 0)}
    routed = sum(v for c, v in sent.items() if c in ROUTING)
    frames = sum(node.transport_stats().frames_out for node in nodes.values()) - frames0
    load = [0] * n
    for i, node in nodes.items():
        load[i] = node.transport_stats().frames_in - frames_in0.get(i, 0)
    count = len(w.packets)
    return {
        "agents": n,
        "topics": w.topics,
        "recall_at_m": round(statistics.fmean(recalls), 4),
        "messages_per_packet": round(routed / count, 2),
        "frames_per_packet": round(frames / count, 2),
        "requests_per_packet_by_category": {c: round(v / count, 2) for c, v in sorted(sent.items())},
        "hops_mean": round(statistics.fmean(hops), 2),
        "hops_p99": percentile(hops, 99),
        "publish_load_skew": skew(load),
        "publish_s": round(publish_s, 1),
    }


def recall_bound(placed: PlacedRows, hasher: SemanticHasher, per_key: int, m: int, w: Workload) -> float:
    """The most recall the keys allow, whatever the network does: per packet, the share of its ``m``
    nearest agents with a row under some key its publisher asks (its buckets and probes, and the
    spill levels below its own full buckets, as :class:`DHTRouter` follows them), averaged."""
    shares = []
    for packet, (publisher, _) in zip(w.packets, w.plan, strict=True):
        truth = np.asarray(nearest(m, w.interests, packet, publisher))
        found = np.zeros(len(truth), np.bool_)
        for key in _asked(hasher, packet.embedding.to_array(), placed, per_key):
            if key in placed.rows:
                found |= np.isin(truth, placed.rows[key])
        shares.append(float(found.sum()) / m)
    return round(statistics.fmean(shares), 4)


def _asked(
    hasher: SemanticHasher, query: npt.NDArray[np.float32], placed: PlacedRows, per_key: int
) -> list[bytes]:
    """The keys a publisher of ``query`` asks (:meth:`DHTRouter.publish`'s rule), when the full keys are
    those holding ``per_key`` rows."""
    topics = {t.key: t for t in hasher.keys(query)}
    level = list(topics)
    while level:
        level = spilled_keys(
            hasher, query, topics, [k for k in level if len(placed.rows.get(k, ())) >= per_key]
        )
    return list(topics)
