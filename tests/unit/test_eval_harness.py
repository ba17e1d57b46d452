"""One harness run per strategy on a small synthetic world: the row's shape and the invariants that
hold by construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from synthswarm.agents.embeddings import HashingEmbedder, Vectors
from synthswarm.evals.cli import run_settings
from synthswarm.evals.datasets import synthetic_dataset
from synthswarm.evals.harness import ALL_STRATEGIES, CachedEmbedder, Row, RunSettings, run_once
from synthswarm.swarm.dht.upkeep import KINDS
from synthswarm.swarm.errors import ConfigError


def without_ner(s: RunSettings) -> RunSettings:
    """``s`` linking on capitalised runs: a unit test loads no real NER model."""
    bounds = dataclasses.replace(s.synthesis_bounds, entities="capitalised")
    return dataclasses.replace(s, synthesis_bounds=bounds)


async def test_every_strategy_runs_and_reports_a_row() -> None:
    world = synthetic_dataset(seed=2, domains=4, entities_per_domain=6, questions=6)
    embedder = CachedEmbedder(HashingEmbedder())
    vectors = await embedder.embed([p.text for p in world.paragraphs])
    rows = {s: (await run_once(world, vectors, 3, s, embedder=embedder, seed=1)).row for s in ALL_STRATEGIES}
    for strategy, row in rows.items():
        assert row.n == 3
        assert row.strategy == strategy
        assert row.possible_pairs == 3
        assert 0.0 <= row.evidence_recall <= 1.0
        assert row.em is None  # no model: evidence metrics only
        assert row.f1 is None
        assert row.llm_calls == 0
        assert row.synthesis_pairs <= row.possible_pairs
        parts = sum(
            getattr(row, f"{part}_messages_per_question")
            for part in ("route", "reply", "fetch", "relay", "subscribe", "handoff")
        )
        assert row.messages_per_question == pytest.approx(parts, abs=0.06)  # upkeep is apart
        assert row.upkeep_messages_per_question >= 0
        assert set(row.upkeep_per_node_min) == {*KINDS, "total"}
        assert all(v >= 0 for v in row.upkeep_per_node_min.values())
    for silent in ("isolated", "oracle"):
        assert rows[silent].messages_per_question == 0
        assert rows[silent].publish_messages == 0
        assert rows[silent].synthesis_pairs == 0
    assert rows["broadcast"].publish_messages == 2 * len(world.paragraphs)  # each packet to the 2 others
    assert rows["isolated"].evidence_recall <= rows["broadcast"].evidence_recall


async def test_synthesis_settles_before_asking_and_is_counted() -> None:
    world = synthetic_dataset(seed=2, domains=4, entities_per_domain=6, questions=6)
    embedder = CachedEmbedder(HashingEmbedder())
    vectors = await embedder.embed([p.text for p in world.paragraphs])
    off = (await run_once(world, vectors, 3, "dht", embedder=embedder, seed=1)).row
    on = (
        await run_once(
            world,
            vectors,
            3,
            "dht",
            embedder=embedder,
            seed=1,
            settings=without_ner(run_settings(synthesis=True)),
        )
    ).row
    assert (off.synthesis, off.syntheses, off.synthesis_messages, off.synthesis_used) == ("off", 0, 0, 0.0)
    assert off.synthesis_pairs == 0
    assert on.synthesis == "on"
    # the world's findings share founders' and cities' names across agents, so some connect
    assert on.syntheses > 0
    assert on.synthesis_messages >= on.syntheses  # each synthesis is routed to at least one agent
    assert 0.0 <= on.synthesis_used <= 1.0
    assert on.synthesis_pairs <= on.possible_pairs
    assert on.publish_messages == off.publish_messages  # settling is counted apart from publishing
    # The settle runs in turns, not on arrivals: the same seed makes the same syntheses again.
    again = (
        await run_once(
            world, vectors, 3, "dht", embedder=embedder, seed=1,
            settings=without_ner(run_settings(synthesis=True)),
        )
    ).row  # fmt: skip
    assert (again.syntheses, again.synthesis_messages, again.evidence_recall) == (
        on.syntheses, on.synthesis_messages, on.evidence_recall,
    )  # fmt: skip


async def test_unknown_strategies_are_config_errors() -> None:
    world = synthetic_dataset(seed=2, domains=2, entities_per_domain=2, questions=1)
    embedder = CachedEmbedder(HashingEmbedder())
    vectors = await embedder.embed([p.text for p in world.paragraphs])
    with pytest.raises(ConfigError, match="unknown strategy 'telepathy'"):
        await run_once(world, vectors, 2, "telepathy", embedder=embedder)


async def test_the_cached_embedder_embeds_each_text_once() -> None:
    class Counting(HashingEmbedder):
        calls = 0

        async def embed(self, texts: Sequence[str]) -> Vectors:
            Counting.calls += 1
            return await super().embed(texts)

    cached = CachedEmbedder(Counting())
    first = await cached.embed(["a", "b", "a"])
    second = await cached.embed(["b", "a"])
    assert Counting.calls == 1
    assert (first[1] == second[0]).all()
    assert (await cached.embed([])).shape == (0, cached.dims)


async def test_killing_nodes_before_asking_leaves_the_living_to_answer() -> None:
    world = synthetic_dataset(seed=2, domains=4, entities_per_domain=6, questions=4)
    embedder = CachedEmbedder(HashingEmbedder())
    vectors = await embedder.embed([p.text for p in world.paragraphs])
    settings = RunSettings(kill=0.25, agent=dataclasses.replace(RunSettings().agent, ask_timeout_s=0.2))
    for strategy in ("dht", "hub"):
        row = (await run_once(world, vectors, 4, strategy, embedder=embedder, seed=1, settings=settings)).row
        assert row.killed_fraction == 0.25
        assert 0.0 <= row.evidence_recall <= 1.0
    with pytest.raises(ConfigError, match=r"eval\.kill"):
        await run_once(world, vectors, 4, "dht", embedder=embedder, settings=RunSettings(kill=1.0))


def test_ablations_turn_mechanisms_off_and_unknown_names_are_config_errors() -> None:
    settings = run_settings(kill=0.2, ablate="rounds,hybrid,titles,answerer,relays")
    assert settings.agent.asking.rounds == 1
    assert settings.agent.asking.relays == 0
    assert settings.agent.lexical_weight == 0.0
    assert not settings.titles
    assert settings.answerer == "profile"
    assert settings.kill == 0.2
    assert run_settings() == RunSettings()
    with pytest.raises(ConfigError, match=r"eval\.ablate"):
        run_settings(ablate="telepathy")


def test_rows_cached_before_upkeep_was_split_out_are_split_the_same_way() -> None:
    row = Row(3, "dht", 0.9, None, None, None, 25.0, 100.0, 1.0, 1.0, 0, 0, 0, 3, 10, 0, 1.0)
    old = dataclasses.asdict(row)
    del old["upkeep_messages_per_question"]
    old |= {"route_messages_per_question": 15.0, "reply_messages_per_question": 2.0}
    row = Row.from_dict(old)
    assert row.messages_per_question == 18.0  # route, replies and subscriptions
    assert row.upkeep_messages_per_question == 7.0  # the rest, counted then in the total
    assert Row.from_dict(dataclasses.asdict(row)) == row
