"""The TUNE and REPORT parts of a dataset: a fixed coin per question id, the corpus kept whole."""

from __future__ import annotations

import hashlib

import pytest

from synthswarm.evals.datasets import ALL, REPORT, TUNE, load_dataset, part_of, synthetic_dataset
from synthswarm.swarm.errors import ConfigError


def test_part_of_is_the_parity_of_the_first_byte_of_the_ids_sha256() -> None:
    # sha256(b"a")[0] = 0xca (even), sha256(b"b")[0] = 0x3e (even), sha256(b"c")[0] = 0x2e (even),
    # sha256(b"d")[0] = 0x18 (even), sha256(b"e")[0] = 0x3f (odd).
    assert hashlib.sha256(b"e").digest()[0] == 0x3F
    assert [part_of(i) for i in "abcde"] == [TUNE, TUNE, TUNE, TUNE, REPORT]


def test_the_sample_splits_into_two_disjoint_parts_over_the_same_corpus() -> None:
    data = load_dataset("hotpotqa").complete()
    tune, report = data.split(TUNE), data.split(REPORT)
    assert (len(tune.questions), len(report.questions)) == (46, 51)
    assert {q.id for q in tune.questions}.isdisjoint(q.id for q in report.questions)
    assert {q.id for q in tune.questions} | {q.id for q in report.questions} == {q.id for q in data.questions}
    assert tune.paragraphs == report.paragraphs == data.paragraphs  # distractors stay: same split
    assert (tune.part, report.part, data.part) == (TUNE, REPORT, ALL)
    assert tune.name == "hotpot_dev300-complete-tune"
    assert data.split(ALL) is data


def test_the_part_survives_taking_and_growing() -> None:
    data = synthetic_dataset(questions=40).split(REPORT)
    assert data.take(3).part == REPORT
    assert len(data.take(3).questions) == 3
    assert all(part_of(q.id) == REPORT for q in data.take(3).questions)
    grown, _ = data.growing(2, 10)
    assert grown.part == REPORT


def test_an_unknown_part_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown part 'held-out'"):
        synthetic_dataset().split("held-out")
