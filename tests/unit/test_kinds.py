"""Answers by kind and their chance baselines, on a small world whose right values are known."""

from __future__ import annotations

import pytest

from synthswarm.agents.specialist import Context, Evidence, SpecialistSettings
from synthswarm.evals._harness.kinds import Judged, by_kind, chance, judge, offered, question_kind
from synthswarm.evals._harness.metrics import scores
from synthswarm.evals._sweep.report import markdown
from synthswarm.evals.datasets import Question

#: A small world: one passage, and questions of every kind over it, with their gold answers.
PASSAGE = (
    "The Grey Heron is a schooner built by Anna Varn in Caldmoor in 1871. "
    "It carried 40 sailors on its first voyage."
)
WORLD = [
    ("Who built the Grey Heron?", "Anna Varn", "name"),
    ("In what year was the Grey Heron built?", "1871", "date"),
    ("How many sailors did the Grey Heron carry?", "40", "number"),
    ("Was the Grey Heron built in Caldmoor?", "yes", "yes/no"),
    ("Which is older, the Grey Heron or the Black Swan?", "Grey Heron", "choice"),
    ("What kind of ship is the Grey Heron?", "schooner", "span"),
]


def _context(*texts: str) -> Context:
    evidence = tuple(Evidence(t, f"p{i}", 1.0 - i / 10) for i, t in enumerate(texts))
    return Context(evidence, messages=0, hops=0)


@pytest.mark.parametrize(("question", "kind"), [(q, k) for q, _, k in WORLD])
def test_question_kind_splits_names_from_other_spans(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def test_chance_is_the_share_of_distinct_candidates_that_match() -> None:
    assert chance(("yes", "no"), "yes") == 0.5
    assert chance(("Grey Heron", "Black Swan"), "the Grey Heron") == 0.5  # EM ignores articles
    assert chance(("1871", "1872", "1901", "1871 "), "1871") == pytest.approx(1 / 3)  # spaces collapse
    assert chance(("Anna", "Varn"), "Anna Varn") == 0.0  # luck cannot match what is not offered
    assert chance((), "anything") == 0.0


def test_offered_is_what_the_reading_rules_give_the_model() -> None:
    settings = SpecialistSettings()
    context = _context(PASSAGE, "The Black Swan was launched in 1902.")
    assert offered("Was the Grey Heron built in Caldmoor?", context, settings) == ("yes", "no")
    years = offered("In what year was the Grey Heron built?", context, settings)
    assert set(years) == {"1871", "1902"}
    names = offered("Who built the Grey Heron?", context, settings)
    assert "Anna Varn" in names
    assert all(n[0].isupper() for n in names)
    assert offered("Who built it?", _context(), settings) == ()


def test_by_kind_counts_and_averages_each_kind_on_the_world() -> None:
    settings = SpecialistSettings()
    context = _context(PASSAGE, "The Black Swan was launched in 1902.")
    answers = {
        "name": "Anna Varn",
        "date": "1902",
        "number": "40",
        "yes/no": "no",
        "choice": "Grey Heron",
        "span": "schooner",
    }
    judged = [
        judge(Question(f"q{i}", q, gold, ("p0",)), answers[kind], offered(q, context, settings))
        for i, (q, gold, kind) in enumerate(WORLD)
    ]
    table = by_kind(judged)
    assert list(table) == ["span", "name", "date", "number", "yes/no", "choice"]
    assert {k: v["em"] for k, v in table.items()} == {
        "span": 1.0,
        "name": 1.0,
        "date": 0.0,
        "number": 1.0,
        "yes/no": 0.0,
        "choice": 1.0,
    }
    assert table["date"]["chance"] == 0.5  # 1871 or 1902
    assert table["yes/no"]["chance"] == 0.5
    assert table["choice"]["chance"] == 0.5
    assert 0.0 < table["name"]["chance"] < 0.5  # Anna Varn among several capitalised phrases
    assert all(v["n"] == 1 for v in table.values())


def test_by_kind_averages_over_questions_of_one_kind() -> None:
    table = by_kind([Judged("span", 1.0, 0.25), Judged("span", 0.0, 0.0), Judged("yes/no", 1.0, 0.5)])
    assert table == {
        "span": {"n": 2, "em": 0.5, "chance": 0.125},
        "yes/no": {"n": 1, "em": 1.0, "chance": 0.5},
    }


def test_scores_report_em_by_kind_only_when_the_candidates_are_given() -> None:
    questions = [Question("a", "Is it?", "yes", ("p",)), Question("b", "Who is it?", "Anna Varn", ("p",))]
    plain = scores(["yes", "Anna"], questions, [])
    assert plain.by_kind == {}
    scored = scores(["yes", "Anna"], questions, [], [("yes", "no"), ("Anna", "Anna Varn", "Varn")])
    assert scored.by_kind == {
        "name": {"n": 1, "em": 0.0, "chance": round(1 / 3, 4)},
        "yes/no": {"n": 1, "em": 1.0, "chance": 0.5},
    }


def test_the_report_shows_each_kind_beside_its_chance() -> None:
    row = {
        "n": 16, "strategy": "dht", "part": "report", "evidence_recall": 0.5, "ceiling": 1.0, "em": 0.5,
        "f1": 0.5, "contains": 0.5, "messages_per_question": 1.0, "route_messages_per_question": 1.0,
        "reply_messages_per_question": 0.0, "fetch_messages_per_question": 0.0,
        "relay_messages_per_question": 0.0, "subscribe_messages_per_question": 0.0, "rounds_mean": 1.0,
        "bytes_per_question": 1.0, "hops_mean": 1.0, "publish_messages": 1, "synthesis_pairs": 0,
        "possible_pairs": 120, "killed_fraction": 0.0, "wall_s": 1.0, "inbox_evicted": 0,
        "em_by_kind": {
            "span": {"n": 3, "em": 0.333, "chance": 0.05}, "yes/no": {"n": 2, "em": 1.0, "chance": 0.5}
        },
    }  # fmt: skip
    text = markdown({"rows": [row], "dataset": "d", "seed": 0, "model": "m", "questions": 5, "paragraphs": 9})
    assert "part report" in text.splitlines()[0]
    assert "| N | strategy | part | span | yes/no |" in text
    assert "| 16 | dht | report | 0.333 / 0.050 (3) | 1.000 / 0.500 (2) |" in text
