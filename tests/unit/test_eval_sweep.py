"""The sweep: invariants of a small run, the resumable cache, the report, and settings errors."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

import synthswarm.evals.sweep
from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.synthesis import SynthesisSettings
from synthswarm.evals._sweep.cache import run_path
from synthswarm.evals._sweep.settings import ModelSpec
from synthswarm.evals.datasets import synthetic_dataset
from synthswarm.evals.harness import CachedEmbedder, RunSettings
from synthswarm.evals.sweep import SweepSettings, run_sweep
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.errors import ConfigError

KEYS = {
    "n", "strategy", "evidence_recall", "em", "f1", "messages_per_question", "bytes_per_question",
    "hops_mean", "llm_calls", "tokens", "synthesis_pairs", "possible_pairs", "publish_messages", "wall_s",
    "subscribe_messages_per_question", "inbox_evicted", "contains", "route_messages_per_question",
    "reply_messages_per_question", "fetch_messages_per_question", "relay_messages_per_question",
    "rounds_mean", "ceiling", "killed_fraction", "protocol", "complete_share", "questions", "paragraphs",
    "upkeep_messages_per_question", "provenance_pairs", "synthesis", "syntheses", "synthesis_messages",
    "synthesis_used", "synthesis_used_own", "synthesis_useful", "synthesis_ceiling", "reply_timeouts", "part",
    "em_by_kind",
    "answerer", "handoff_messages_per_question", "scan_lookups_per_question",
    "handoffs_failed", "upkeep_per_node_min", "processes",
}  # fmt: skip


async def test_the_growing_protocol_grows_the_corpus_with_the_swarm(tmp_path: Path) -> None:
    world = synthetic_dataset(seed=5, domains=4, entities_per_domain=8, questions=24)
    sweep = SweepSettings(sizes=(2, 4), strategies=("isolated", "oracle"), protocol="growing", share=4)
    results = await run_sweep(world, sweep, tmp_path, embedder=CachedEmbedder(HashingEmbedder()))
    rows = {(r["n"], r["strategy"]): r for r in results["rows"]}
    assert results["protocol"] == "growing"
    assert all(r["protocol"] == "growing" for r in rows.values())
    assert rows[4, "oracle"]["paragraphs"] > rows[2, "oracle"]["paragraphs"] >= 8
    assert rows[4, "oracle"]["questions"] > rows[2, "oracle"]["questions"]
    assert rows[4, "isolated"]["complete_share"] <= rows[4, "oracle"]["complete_share"]
    with pytest.raises(ConfigError, match=r"eval\.protocol"):
        SweepSettings(sizes=(2,), strategies=("dht",), protocol="shrinking")


async def test_a_small_sweep_holds_its_invariants_and_resumes_from_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = synthetic_dataset(seed=5, domains=4, entities_per_domain=6, questions=8)
    sweep = SweepSettings(
        sizes=(2, 4), strategies=("isolated", "gossip", "hub", "broadcast", "dht", "oracle")
    )
    results = await run_sweep(world, sweep, tmp_path, embedder=CachedEmbedder(HashingEmbedder()))
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert {k: results[k] for k in ("dataset", "seed", "llm", "model")} == {
        "dataset": "synthetic-5",
        "seed": 0,
        "llm": "none",
        "model": "none",
    }
    rows = {(r["n"], r["strategy"]): r for r in results["rows"]}
    assert len(rows) == 12
    assert all(set(r) == KEYS for r in rows.values())
    paragraphs = len(world.paragraphs)
    for n in (2, 4):
        for strategy in sweep.strategies:  # the oracle is the ceiling
            assert rows[n, "oracle"]["evidence_recall"] >= rows[n, strategy]["evidence_recall"], strategy
            assert rows[n, strategy]["inbox_evicted"] == 0
        assert rows[n, "isolated"]["messages_per_question"] == 0
        assert rows[n, "isolated"]["publish_messages"] == 0
        assert rows[n, "broadcast"]["publish_messages"] == paragraphs * (n - 1)  # linear in N
        assert rows[n, "dht"]["possible_pairs"] == n * (n - 1) // 2
    broadcast = [rows[n, "broadcast"]["messages_per_question"] for n in (2, 4)]
    assert broadcast[1] > broadcast[0]
    report = (tmp_path / "results.md").read_text()
    assert "| N | dht | isolated | oracle | gain G(N) | closure |" in report

    async def no_runs(*args: object, **kwargs: object) -> object:
        raise AssertionError("a cached configuration ran again")

    monkeypatch.setattr(synthswarm.evals.sweep, "run_once", no_runs)
    again = await run_sweep(world, sweep, tmp_path, embedder=CachedEmbedder(HashingEmbedder()))
    assert again == results
    with pytest.raises(AssertionError, match="ran again"):  # the patch reaches the sweep's runs
        await run_sweep(world, sweep, tmp_path / "fresh", embedder=CachedEmbedder(HashingEmbedder()))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"sizes": (2,), "strategies": ("telepathy",)}, "eval.strategies"),
        ({"sizes": (1, 2), "strategies": ("dht",)}, "eval.sizes"),
        ({"sizes": (), "strategies": ("dht",)}, "eval.sizes"),
        ({"sizes": (2,), "strategies": ("dht",), "llm": "telepathic"}, "eval.llm"),
        ({"sizes": (2,), "strategies": ("dht",), "jobs": 0}, "eval.jobs"),
        ({"sizes": (2,), "strategies": ()}, "eval.strategies"),
    ],
)
def test_bad_sweep_settings_name_the_key(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        SweepSettings(**kwargs)  # type: ignore[arg-type]
    assert info.value.key == key


@pytest.mark.parametrize(
    "change",
    [
        {"dht": DHTSettings(initial_timeout_s=1.0, min_timeout_s=0.2, max_timeout_s=5.0)},
        {"synthesis_bounds": SynthesisSettings(entities="capitalised", budget_window_packets=256)},
        {"synthesis_bounds": SynthesisSettings(entities="spacy", budget=8, budget_window_packets=256)},
        {"handoff_timeout_s": 5.0},
        {"isolated_answerer": ""},
    ],
)
def test_a_run_is_cached_under_every_setting_that_decides_its_figures(
    tmp_path: Path, change: dict[str, object]
) -> None:
    world = synthetic_dataset(seed=5, domains=2, entities_per_domain=4, questions=4)
    sweep = SweepSettings(sizes=(2,), strategies=("dht",))
    base = RunSettings()
    changed = replace(base, **change)  # type: ignore[arg-type]
    for strategy in ("dht", "gossip"):
        before = run_path(tmp_path, world, sweep, ModelSpec(), 2, strategy, base)
        assert run_path(tmp_path, world, sweep, ModelSpec(), 2, strategy, changed) != before
        assert run_path(tmp_path, world, sweep, ModelSpec(), 2, strategy, replace(base)) == before


def test_only_gossip_runs_are_keyed_by_the_gossip_budget(tmp_path: Path) -> None:
    world = synthetic_dataset(seed=5, domains=2, entities_per_domain=4, questions=4)
    sweep = SweepSettings(sizes=(2,), strategies=("dht",))
    base, more = RunSettings(gossip_budget=12), RunSettings(gossip_budget=24)
    path = partial(run_path, tmp_path, world, sweep, ModelSpec(), 2)
    assert path("dht", base) == path("dht", more)
    assert path("gossip", base) != path("gossip", more)
