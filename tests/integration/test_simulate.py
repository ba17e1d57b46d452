"""The simulator against the real thing: the same workload, node ids and seed on a simulated swarm
and on a real one over ``inproc://`` sockets give the same routing figures, within noise."""

from __future__ import annotations

from typing import Any

from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench.simulate import NODE_SETTINGS, SimulateBenchSettings, measure, simulate_once
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.sim import NetworkModel

N = 64


def _real(s: SimulateBenchSettings) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with launch_swarm(N, settings=NODE_SETTINGS, seed=s.seed, seeded_ids=True) as nodes:
            return await measure(nodes, s, lambda _: None, label="real")

    return tasks.run(main())


def test_a_simulated_swarm_routes_as_the_real_one_on_the_same_seed() -> None:
    s = SimulateBenchSettings(
        agents=N, packets=30, baseline=0, tables="joined", seed=5, network=NetworkModel(loss=0.0)
    )
    simulated, real = simulate_once(N, s), _real(s)
    assert simulated["subscriptions_lost"] == real["subscriptions_lost"] == 0
    assert abs(simulated["recall_at_m"] - real["recall_at_m"]) <= 0.05
    assert abs(simulated["hops_mean"] - real["hops_mean"]) <= 0.5
    for cost in ("messages_per_packet", "subscribe_messages_per_agent"):
        assert abs(simulated[cost] - real[cost]) <= 0.15 * real[cost], cost


def _lossless(**shortcuts: Any) -> dict[str, Any]:
    s = SimulateBenchSettings(
        agents=2 * N, packets=30, baseline=0, seed=3, network=NetworkModel(loss=0.0), **shortcuts
    )
    return simulate_once(2 * N, s)


def test_lazy_nodes_and_placed_rows_route_as_the_full_simulation() -> None:
    full, placed = _lossless(), _lossless(subscribe="placed")
    lazy = _lossless(subscribe="placed", nodes="lazy")
    for key in ("recall_at_m", "messages_per_packet", "hops_mean", "load_skew"):
        assert lazy[key] == placed[key], key  # starting nodes late changes no route
    assert lazy["nodes_started"] < 2 * N
    assert lazy["recall_at_m"] <= lazy["recall_bound"]  # no network delivers what no asked key holds
    assert placed["subscribe_messages_per_agent"] is None  # not measured when placed
    assert abs(placed["recall_at_m"] - full["recall_at_m"]) <= 0.05
    assert (
        abs(placed["messages_per_packet"] - full["messages_per_packet"]) <= 0.1 * full["messages_per_packet"]
    )
