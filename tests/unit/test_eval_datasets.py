"""Eval datasets and the topic partition: shapes, determinism, and clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthswarm.evals.datasets import (
    HOTPOTQA_SAMPLE,
    load_dataset,
    load_hotpotqa,
    synthetic_dataset,
    synthetic_world,
)
from synthswarm.evals.partition import partition
from synthswarm.swarm.errors import ConfigError


def test_the_shipped_hotpotqa_sample_loads_with_its_paragraphs_shared() -> None:
    data = load_dataset("hotpotqa")
    assert data.name == "hotpot_dev300"
    assert len(data.questions) == 300
    assert len(data.paragraphs) == 2983  # distinct titles over all contexts
    assert {q.kind for q in data.questions} == {"bridge", "comparison"}
    assert all(len(q.supporting) == 2 for q in data.questions)
    # Many records name a supporting paragraph their context lacks: kept, but never findable.
    assert len(data.complete().questions) == 97
    first = data.questions[0]
    assert data.available(first) == ("University of Kansas",)
    assert (HOTPOTQA_SAMPLE.parent / "ATTRIBUTION.md").read_text().count("CC BY-SA 4.0") == 1


def test_json_arrays_and_jsonl_load_the_same(tmp_path: Path) -> None:
    records = [json.loads(line) for line in HOTPOTQA_SAMPLE.read_text().splitlines()[:5]]
    array, lines = tmp_path / "a.json", tmp_path / "b.jsonl"
    array.write_text(json.dumps(records))
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert load_hotpotqa(array).questions == load_hotpotqa(lines).questions
    assert len(load_hotpotqa(lines, limit=2).questions) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON or JSONL"),
        (
            '{"_id": "x", "question": "q", "answer": "a", "context": [], "supporting_facts": []}',
            "no supporting facts",
        ),
        ('{"_id": "x", "question": "q"}', "line 1: not a HotpotQA record"),
        ("", "holds no questions"),
    ],
)
def test_bad_files_are_config_errors_that_say_where(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_hotpotqa(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_hotpotqa(tmp_path / "missing.jsonl")


def test_the_synthetic_world_is_seeded_and_puts_each_questions_facts_in_two_domains() -> None:
    data = synthetic_dataset(seed=3, domains=6, entities_per_domain=10, questions=60)
    assert data == synthetic_dataset(seed=3, domains=6, entities_per_domain=10, questions=60)
    assert data != synthetic_dataset(seed=4, domains=6, entities_per_domain=10, questions=60)
    assert len(data.paragraphs) == 60
    assert len(data.questions) == 60
    assert data.complete().questions == data.questions
    texts = {p.id: p.text for p in data.paragraphs}
    for q in data.questions:
        first, second = q.supporting
        assert first.split("/")[0] != second.split("/")[0]
        assert q.answer in texts[first] + texts[second]
    kinds = [q.kind for q in data.questions]
    assert kinds.count("comparison") == 20


def test_synthetic_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.domains"):
        synthetic_dataset(domains=1)


def test_partition_is_seeded_complete_and_leaves_no_agent_empty() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16))
    vectors = np.vstack([c + 0.05 * rng.standard_normal((25, 16)) for c in centres])
    parts = partition(vectors, 4, seed=1)
    assert parts == partition(vectors, 4, seed=1)
    assert sorted(i for part in parts for i in part) == list(range(100))
    assert sorted(len(p) for p in parts) == [25, 25, 25, 25]  # four clear topics, four agents
    many = partition(vectors, 60, seed=1)
    assert all(many)
    assert sum(len(p) for p in many) == 100
    with pytest.raises(ConfigError, match="cannot split 100 paragraphs among 101 agents"):
        partition(vectors, 101)


def test_the_growing_corpus_gives_each_agent_its_share_and_brings_the_questions_along() -> None:
    world = synthetic_dataset(seed=3, domains=4, entities_per_domain=8, questions=30)
    small, positions = world.growing(2, 4)
    large, _ = world.growing(4, 4)
    assert len(small.paragraphs) >= 8
    assert len(large.paragraphs) >= 16
    assert len(large.questions) > len(small.questions)
    assert [world.paragraphs[i] for i in positions] == list(small.paragraphs)
    held = {p.id for p in small.paragraphs}
    assert all(p in held for q in small.questions for p in q.supporting)
    with pytest.raises(ConfigError, match=r"eval\.sizes"):
        world.growing(100, 30)


def test_a_synthetic_world_grows_to_thousands_of_paragraphs_and_keeps_the_default_world() -> None:
    world = synthetic_world(3000, seed=1)
    grown, positions = world.growing(100, 30)
    assert len(grown.paragraphs) >= 3000
    assert len(positions) == len(grown.paragraphs)
    assert len({p.title for p in world.paragraphs}) == len(world.paragraphs)  # names stay unique
    # The small worlds, every result so far among them, are the same as before longer names existed.
    default = synthetic_dataset(seed=0)
    assert synthetic_world(10, seed=0) == default
    assert (default.paragraphs[0].title, default.paragraphs[-1].title) == ("Lotoin", "Zoinin")
