"""``synthswarm bench routing``: recall and cost of every routing strategy on one swarm.

N agents, one per DHT node, subscribe with an interest vector drawn around one of C topic centres
(unit vectors in 384 dimensions; members of a topic sit at cosine ~0.5 from each other, as related
paragraphs do under MiniLM). M packets, each published by a random agent about its own topic or, half
the time, another one, go through each strategy in turn. Per strategy:

- ``recall_at_m``: of the m agents whose interests are nearest the packet's embedding (exact cosine
  over all of them), the share that received it, as counted by the agents' own delivery callbacks;
- ``messages_per_packet``: every routing request any node sent for the packet (rendezvous walks,
  forwarding, deliveries); ``upkeep_msgs_per_packet``: the other requests sent meanwhile (mostly
  routing-table liveness pings that the traffic provokes, and DHT maintenance);
- ``bytes_per_packet``: every byte of requests and replies sent while the packet was routed;
- ``hops_mean``: the publisher's longest path to a rendezvous (dht), 1 for direct delivery;
- ``deliveries_per_s``: deliveries over the wall time of the publish phase;
- ``subscribe_messages_per_agent``: every request any node sent while the agents subscribed (the
  rendezvous lookups and stores, and the table upkeep they provoke), over the agents;
- ``republish_messages_per_agent_hour`` (dht): every request sent while each node re-announced its
  agents' subscription records once (:meth:`DHTNode.republish`, which maintenance runs every
  ``republish_interval_s``), over the agents, times the re-announcements an hour takes at the default
  interval.

The LSH is not centred: a deployment has no global view of every agent's interests to take a mean
of, so the benchmark does not use one either.

Gossip gets the message budget the dht router measured, so the two are compared at equal cost.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench._report import Target, judge_targets
from synthswarm.swarm.app.bench._workload import (
    DIMS,
    ROUTING,
    Deliveries,
    bench_packet,
    plan_packets,
    recall_at,
    synthetic_interests,
)
from synthswarm.swarm.cluster import Shards, launch_shards
from synthswarm.swarm.dht import DHTNode, DHTSettings, bytes_sent, requests_by_category, requests_sent
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.dht.upkeep import expected, measured, shape
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket
from synthswarm.swarm.routers import (
    DHTRouter,
    DHTRouterSettings,
    Router,
    RouterStats,
    make_router,
    subscribe_in_batches,
)
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

__all__ = ["DIMS", "RoutingBenchSettings", "run_routing_bench", "synthetic_interests"]


@dataclass(frozen=True)
class RoutingBenchSettings:
    agents: int = 256
    packets: int = 200
    m: int = 10
    topics: int = 0
    """Topic centres (0: agents / 16, at least 4)."""
    lsh: LSHSettings = field(default_factory=LSHSettings)
    seed: int = 0
    strategies: tuple[str, ...] = ("dht", "gossip", "broadcast", "hub", "isolated")
    processes: int = 1
    """Agents and their nodes in this many processes (:func:`synthswarm.swarm.cluster.launch_shards`); the
    dht strategy only, as the baselines keep their subscriber tables in one process. Packets are
    published by this process's agents; every process's requests count."""
    ray: str | None = None
    """Place the other processes' shards with Ray (``auto``, ``local`` or a cluster's address)
    instead of as child processes on this machine."""


def run_routing_bench(
    settings: RoutingBenchSettings, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    return tasks.run(_run(settings, progress))


def targets(figures: dict[str, Any]) -> dict[str, Target]:
    """Issue 16's targets (recall, cost against broadcast, subscription cost, throughput against the
    hub); the subscribe-time target is the issue's for N=1,024 only."""
    broadcast = figures["strategies"].get("broadcast", {}).get("messages_per_packet")
    out: dict[str, Target] = {
        "dht_recall_at_m": (">=", 0.95, "dht deliveries among the exact m nearest"),
        "dht_subscribe_messages_per_agent": ("<=", 80, "requests to subscribe one agent"),
    }
    if "dht_subscriptions_lost" in figures:
        out["dht_subscriptions_lost"] = ("<=", 0, "subscription records no rendezvous kept")
    if broadcast:
        out["dht_messages_vs_broadcast"] = ("<=", 0.05, "dht messages per packet over broadcast's")
    if "dht_deliveries_vs_hub" in figures:
        out["dht_deliveries_vs_hub"] = (">=", 1.0, "dht deliveries per second over the hub's")
    if figures["agents"] == 1024:
        out["dht_subscribe_s"] = ("<=", 30, "seconds to subscribe 1,024 agents")
    return out


async def _run(s: RoutingBenchSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    if s.processes > 1:
        return await _run_sharded(s, progress)
    started = time.perf_counter()
    rng = np.random.default_rng(s.seed)
    topics = s.topics or max(4, s.agents // 16)
    interests, topic_of, centres = synthetic_interests(s.agents, topics, rng)
    packets_plan = plan_packets(s.packets, s.agents, rng, topic_of, centres)
    hasher = SemanticHasher(DIMS, s.lsh)
    figures: dict[str, Any] = {"agents": s.agents, "packets": s.packets, "m": s.m, "topics": topics}
    figures["lsh"] = {"tables": s.lsh.tables, "bits": s.lsh.bits, "probes": s.lsh.probes}
    results: dict[str, dict[str, Any]] = {}
    settings = DHTSettings(initial_timeout_s=0.5)
    async with launch_swarm(
        s.agents, settings=settings, seed=s.seed, progress=lambda d, t: progress(f"joined {d}/{t} nodes")
    ) as nodes:
        identities = [Identity.from_seed(rng.bytes(32)) for _ in range(s.agents)]
        packets = [bench_packet(identities[p], vec) for p, vec in packets_plan]
        for name in s.strategies:
            router = _router(name, s, hasher, nodes, results)
            progress(f"{name}: subscribing {s.agents} agents")
            results[name] = await _measure(
                router, nodes, identities, interests, packets, packets_plan, s, progress
            )
    figures["strategies"] = results
    dht, broadcast = results.get("dht"), results.get("broadcast")
    if dht:
        figures["dht_recall_at_m"] = dht["recall_at_m"]
        figures["dht_subscribe_messages_per_agent"] = dht["subscribe_messages_per_agent"]
        figures["dht_subscribe_s"] = dht["subscribe_s"]
        figures["dht_subscriptions_lost"] = dht["subscriptions_lost"]
    hub = results.get("hub")
    if dht and hub and hub["deliveries_per_s"]:
        figures["dht_deliveries_vs_hub"] = round(dht["deliveries_per_s"] / hub["deliveries_per_s"], 2)
    if dht and broadcast and broadcast["messages_per_packet"]:
        figures["dht_messages_vs_broadcast"] = round(
            dht["messages_per_packet"] / broadcast["messages_per_packet"], 4
        )
    figures["targets"] = judge_targets(figures, targets(figures))
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    return figures


def _router(
    name: str,
    s: RoutingBenchSettings,
    hasher: SemanticHasher,
    nodes: list[DHTNode],
    done: dict[str, dict[str, Any]],
) -> Router:
    # Gossip gets the message budget dht measured, so the two compare at equal cost.
    budget = round(done["dht"]["messages_per_packet"]) if "dht" in done else s.m * 4
    return make_router(name, nodes, hasher=hasher, m=s.m, threshold=-1.0, gossip_budget=budget, seed=s.seed)


async def _measure(
    router: Router,
    nodes: list[DHTNode],
    identities: list[Identity],
    interests: npt.NDArray[np.float32],
    packets: list[OutcomePacket],
    plan: list[tuple[int, npt.NDArray[np.float32]]],
    s: RoutingBenchSettings,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    recorder = Deliveries()
    received, inbox = recorder.received, recorder.inbox

    t0, sent0 = time.perf_counter(), requests_sent(nodes, None)
    rows = [(identities[i].id, interests[i], inbox(i), nodes[i]) for i in range(len(identities))]
    # Only the dht router counts a lost subscription in its stats; the others raise it.
    await subscribe_in_batches(router, rows, lost_counted=router.name == "dht")
    subscribe_s = time.perf_counter() - t0
    subscribe_messages = requests_sent(nodes, None) - sent0
    upkeep: dict[str, Any] = {}
    if router.name == "dht":
        progress("dht: every node re-announces its subscription records once")
        sent0 = requests_sent(nodes, None)
        await asyncio.gather(*(node.republish() for node in nodes))
        rounds_an_hour = 3600 / nodes[0].settings.republish_interval_s
        per_round = (requests_sent(nodes, None) - sent0) / len(identities)
        upkeep["republish_messages_per_agent_hour"] = round(per_round * rounds_an_hour, 1)
        # Kademlia's rate for this swarm as it stands (its subscription records published and held).
        upkeep["upkeep_expected_per_node_min"] = expected(nodes[0].settings, shape(nodes)).as_dict()
    progress(f"{router.name}: publishing {len(packets)} packets")
    before, bytes0 = requests_by_category(nodes), bytes_sent(nodes)
    recalls, hops = [], []
    t0 = time.perf_counter()
    for packet, (publisher, _) in zip(packets, plan, strict=True):
        report = await router.publish(packet, publisher=identities[publisher].id)
        hops.append(report.hops)
        recalls.append(recall_at(s.m, interests, packet, publisher, received[packet.id]))
    publish_s = time.perf_counter() - t0
    after = requests_by_category(nodes)
    sent = {c: v - before.get(c, 0) for c, v in after.items()}
    routed = sum(v for c, v in sent.items() if c in ROUTING)
    if router.name == "dht":  # on the machine's clock, as the DHT's timers run: moves with its speed
        kinds = measured(before, after, len(nodes), publish_s / 60)
        upkeep["upkeep_per_node_min_while_publishing"] = kinds.as_dict()
    deliveries = sum(len(v) for v in received.values())
    return {
        "recall_at_m": round(statistics.fmean(recalls), 4),
        "messages_per_packet": round(routed / len(packets), 2),
        "upkeep_msgs_per_packet": round((sum(sent.values()) - routed) / len(packets), 2),
        "bytes_per_packet": round((bytes_sent(nodes) - bytes0) / len(packets)),
        "hops_mean": round(statistics.fmean(hops), 2),
        "deliveries_per_s": round(deliveries / publish_s, 1) if publish_s else 0.0,
        "deliveries_per_packet": round(deliveries / len(packets), 2),
        "subscribe_s": round(subscribe_s, 1),
        "subscribe_messages_per_agent": round(subscribe_messages / len(identities), 1),
        **(_subscription_losses(router.stats(), {}) if isinstance(router, DHTRouter) else {}),
        **upkeep,
    }


async def _run_sharded(s: RoutingBenchSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    """The dht strategy with its agents in ``s.processes`` processes, one agent per node."""
    started = time.perf_counter()
    rng = np.random.default_rng(s.seed)
    topics = s.topics or max(4, s.agents // 16)
    interests, topic_of, centres = synthetic_interests(s.agents, topics, rng)
    hasher = SemanticHasher(DIMS, s.lsh)
    figures: dict[str, Any] = {"agents": s.agents, "packets": s.packets, "m": s.m, "topics": topics}
    figures["lsh"] = {"tables": s.lsh.tables, "bits": s.lsh.bits, "probes": s.lsh.probes}
    figures["processes"] = s.processes
    figures["placement"] = f"ray ({s.ray})" if s.ray else "child processes"
    join_started = time.perf_counter()
    busy = DHTSettings(initial_timeout_s=0.5, bootstrap_timeout_s=30.0)  # busy shards answer late
    async with launch_shards(
        s.agents, processes=s.processes, settings=busy, seed=s.seed, progress=progress, ray=s.ray
    ) as shards:
        figures["join_s"] = round(time.perf_counter() - join_started, 1)
        local = shards.local
        identities = [Identity.from_seed(rng.bytes(32)) for _ in range(s.agents)]
        ids = [i.id for i in identities]
        index_of = {agent: i for i, agent in enumerate(ids)}
        plan = plan_packets(s.packets, s.agents, rng, topic_of, centres, publishers=len(local))
        packets = [bench_packet(identities[p], vec) for p, vec in plan]
        router = DHTRouter(hasher, DHTRouterSettings(m=s.m, threshold=-1.0))
        recorder = Deliveries()
        received, inbox = recorder.received, recorder.inbox

        progress(f"subscribing {s.agents} agents in {s.processes} processes")
        subscribed = await _subscribe_sharded(shards, router, ids, interests, inbox, s, progress)
        progress(f"dht: publishing {len(packets)} packets from this process's agents")
        before = await shards.stats()
        recalls, hops, t0 = [], [], time.perf_counter()
        for packet, (publisher, _) in zip(packets, plan, strict=True):
            hops.append((await router.publish(packet, publisher=ids[publisher])).hops)
        publish_s = time.perf_counter() - t0
        after = await shards.stats()
        routed = _routing(after.requests) - _routing(before.requests)
        sent_bytes = after.bytes_out - before.bytes_out
        for packet_id, agents in (await shards.received_remote()).items():
            received[packet_id].update(index_of[a] for a in agents)
        for packet, (publisher, _) in zip(packets, plan, strict=True):
            recalls.append(recall_at(s.m, interests, packet, publisher, received[packet.id]))
    deliveries = sum(len(received[p.id]) for p in packets)
    dht = {
        "recall_at_m": round(statistics.fmean(recalls), 4),
        "messages_per_packet": round(routed / len(packets), 2),
        "bytes_per_packet": round(sent_bytes / len(packets)),
        "hops_mean": round(statistics.fmean(hops), 2),
        "deliveries_per_s": round(deliveries / publish_s, 1) if publish_s else 0.0,
        "deliveries_per_packet": round(deliveries / len(packets), 2),
        **subscribed,
    }
    figures["strategies"] = {"dht": dht}
    figures["dht_recall_at_m"] = dht["recall_at_m"]
    figures["dht_subscribe_messages_per_agent"] = dht["subscribe_messages_per_agent"]
    figures["dht_subscribe_s"] = dht["subscribe_s"]
    figures["dht_subscriptions_lost"] = dht["subscriptions_lost"]
    figures["targets"] = judge_targets(figures, targets(figures))
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    return figures


async def _subscribe_sharded(
    shards: Shards,
    router: DHTRouter,
    ids: list[bytes],
    interests: npt.NDArray[np.float32],
    inbox: Callable[[int], Any],
    s: RoutingBenchSettings,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """One agent on every node of every shard, this process's through ``router``; the cost and
    the losses, counted in every process."""
    local = shards.local
    sent0, t0 = (await shards.stats()).requests.total(), time.perf_counter()
    rest = slice(len(local), None)
    remote = asyncio.ensure_future(
        shards.subscribe_remote(ids[rest], interests[rest], lsh=s.lsh, m=s.m, threshold=-1.0)
    )
    rows = [(ids[i], interests[i], inbox(i), local[i]) for i in range(len(local))]
    await subscribe_in_batches(
        router, rows, done=lambda k: progress(f"shard 0: subscribed {k}/{len(local)} agents")
    )
    remote_stats = await remote
    subscribe_s = time.perf_counter() - t0
    messages = (await shards.stats()).requests.total() - sent0
    return {
        "subscribe_s": round(subscribe_s, 1),
        "subscribe_messages_per_agent": round(messages / s.agents, 1),
        **_subscription_losses(router.stats(), remote_stats),
    }


def _subscription_losses(stats: RouterStats, remote: dict[str, int]) -> dict[str, int]:
    """Rows no rendezvous kept, copies refused, and puts tried again, in this process and the shards."""
    names = ("subscriptions_lost", "subscription_stores_refused", "subscription_retries")
    return {name: getattr(stats, name) + remote.get(name, 0) for name in names}


def _routing(requests: Counter[str]) -> int:
    return sum(v for c, v in requests.items() if c in ROUTING)
