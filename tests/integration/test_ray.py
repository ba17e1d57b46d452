"""Ray places the shards of one DHT and runs the eval sweep's jobs, on a real local Ray cluster.

The module starts one with ``ray start --head`` (the way a user starts a cluster's head node) and
every test attaches to it with ``auto``, as a user on that machine would; it is stopped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthswarm.agents.embeddings import make_embedder
from synthswarm.evals.datasets import synthetic_dataset
from synthswarm.evals.harness import CachedEmbedder, run_once
from synthswarm.swarm.config import EmbedderConfig
from synthswarm.swarm.dht import DHTSettings, key_for
from synthswarm.swarm.dht.ids import distance
from synthswarm.swarm.dht.node import requests_sent
from tests.integration.test_cli_eval import measured
from tests.integration.test_cli_eval import run as run_eval

FAST = DHTSettings(initial_timeout_s=0.5, bootstrap_timeout_s=5.0)


def _ray_cli() -> str:
    found = shutil.which("ray", path=os.path.dirname(sys.executable))
    assert found is not None, "the [ray] extra is not installed (make installs it)"
    return found


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray = _ray_cli()
    started = subprocess.run(
        [ray, "start", "--head", "--port=0", "--num-cpus=4", "--include-dashboard=false",
         "--disable-usage-stats"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, check=False)


async def test_shards_placed_by_ray_form_one_dht(ray_cluster: None) -> None:
    """Two shards run as Ray actors: records stored from this process land in them, lookups find
    the true closest over all three, every shard's requests are counted, and a kill reaches them."""
    from synthswarm.swarm.cluster import launch_shards

    async with launch_shards(60, processes=3, settings=FAST, seed=2, ray="auto") as shards:
        assert shards.sizes == [20, 20, 20]
        assert len(set(shards.ids)) == 60
        assert all(not n.address.startswith("tcp://0.0.0.0") for n in shards.local)
        before = await shards.stats()
        keys = {key_for("ray", str(i)): f"v{i}".encode() for i in range(12)}
        for i, (key, value) in enumerate(keys.items()):
            assert (await shards.local[i].put(key, value, republish=False)).stored == FAST.k
        assert sum(len(n.store) for n in shards.local) < 12 * FAST.k  # most copies are in the actors
        for key, value in keys.items():
            assert (await shards.local[-1].get(key)).values == [value]
        target = key_for("closest")
        asker = shards.local[0]
        truth = [i for i in sorted(shards.ids, key=lambda i: distance(i, target)) if i != asker.node_id]
        found = await asker.lookup(target)
        assert [c.node_id for c in found.contacts] == truth[: FAST.k]
        after = await shards.stats()
        local_only = requests_sent(shards.local)
        assert after.requests.total() - before.requests.total() > 0
        assert after.requests.total() > local_only  # the actors' requests are in the sum
        assert after.cpu_s > before.cpu_s
        survivors = await shards.kill(0.25, seed=1)
        assert len(survivors) == 15
        for key, value in list(keys.items())[:4]:
            assert (await survivors[0].get(key)).values == [value]


def test_bench_routing_with_shards_on_ray(ray_cluster: None, tmp_path: Path) -> None:
    out = tmp_path / "routing.json"
    done = subprocess.run(
        [sys.executable, "-m", "synthswarm", "bench", "routing", "--agents", "64", "--packets", "20",
         "--strategies", "dht", "--processes", "2", "--ray", "auto", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["placement"] == "ray (auto)"
    assert figures["processes"] == 2
    assert figures["dht_subscriptions_lost"] == 0
    assert figures["strategies"]["dht"]["deliveries_per_packet"] > 0
    assert figures["dht_recall_at_m"] >= 0.8
    assert "--ray auto" in figures["command"]


def test_the_eval_sweep_runs_its_jobs_on_ray(ray_cluster: None, tmp_path: Path) -> None:
    """Runs as Ray tasks measure the same figures as runs in this machine's own processes."""
    args = ("--sizes", "2,3", "--strategies", "isolated,dht,oracle", "--questions", "6", "--jobs", "2")
    on_ray = run_eval(*args, "--ray", "auto", "--out", "ray", cwd=tmp_path)
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert "on Ray (auto)" in " ".join(on_ray.stdout.split())  # the console may wrap the line
    here = run_eval(*args, "--out", "here", cwd=tmp_path)
    assert here.returncode == 0, here.stderr[-3000:]
    ray_results = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert measured(ray_results) == measured(json.loads((tmp_path / "here" / "results.json").read_text()))


async def test_an_eval_run_spreads_its_agents_over_ray_actors(
    ray_cluster: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``eval scaling --processes 2 --ray``: the second slice of the agents is a Ray actor hosting the
    eval's shard, and the row is the one-process run's within the spread run's tolerance
    (tests/integration/test_eval_processes.py)."""
    from synthswarm.evals._harness.shard import MODULE
    from synthswarm.swarm.cluster import ray_shards

    placed: list[str] = []
    real = ray_shards.RayShard.__init__

    def spy(self: ray_shards.RayShard, args: dict[str, Any], module: str, **options: Any) -> None:
        placed.append(module)
        real(self, args, module, **options)

    monkeypatch.setattr(ray_shards.RayShard, "__init__", spy)
    world = synthetic_dataset(seed=2, domains=4, entities_per_domain=8, questions=12)
    config = EmbedderConfig(backend="hashing")
    embedder = CachedEmbedder(make_embedder(config))
    vectors = await embedder.embed([p.text for p in world.paragraphs])
    one = (await run_once(world, vectors, 16, "dht", embedder=embedder, seed=0)).row
    on_ray = await run_once(
        world, vectors, 16, "dht", embedder=embedder, seed=0, processes=2, embedder_config=config, ray="auto"
    )
    row = on_ray.row
    assert placed == [MODULE]
    assert (row.processes, row.questions) == (2, 12)
    assert 0.75 <= row.messages_per_question / one.messages_per_question <= 1.25
    assert abs(row.evidence_recall - one.evidence_recall) <= 0.1
    assert row.handoffs_failed == 0
    assert row.reply_timeouts == 0


def test_an_unreachable_cluster_is_one_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "synthswarm", "bench", "dht", "--nodes", "8", "--lookups", "2",
         "--processes", "2", "--ray", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "config ray: cannot reach a Ray cluster at '127.0.0.1:1'" in done.stderr
    assert "Traceback" not in done.stderr
