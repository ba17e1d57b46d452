"""Reading as the answering agent and the eval both take it (:func:`read`), and how choices are scored
(:func:`best_choice`): by the sum or the mean of their tokens' log probabilities."""

from __future__ import annotations

import pytest

from synthswarm.agents.llm import Extract
from synthswarm.agents.llm._local_decode import best_choice
from synthswarm.agents.reading import read, text_spans, wants_name

PASSAGE = "The Grey Heron is a schooner built by Anna Varn in 1871. It sailed from Caldmoor."


def test_the_mean_does_not_prefer_a_short_fragment_the_sum_does() -> None:
    # "Anna" (one token and the end) against "Anna Varn" (two tokens and the end): the model is
    # sure of "Varn" once it has "Anna", so the whole name is the likelier reply per token.
    fragment, name = [-1.0, -1.0], [-1.0, -0.1, -1.6]
    assert best_choice([fragment, name], "sum") == 0
    assert best_choice([fragment, name], "mean") == 1
    assert best_choice([fragment, name]) == 0  # the sum is the default (measured better)


def test_ties_go_to_the_earlier_choice_and_unknown_rules_fail() -> None:
    assert best_choice([[-1.0], [-0.5, -1.5]], "mean") == 0
    assert best_choice([[-2.0], [-1.0, -1.0]], "sum") == 0
    with pytest.raises(ValueError, match="unknown choice score"):
        best_choice([[-1.0]], "max")


def test_extracts_are_scored_by_the_sum_unless_asked_otherwise() -> None:
    assert Extract(choices=("a",)).score == "sum"
    assert Extract(choices=("a",), score="mean") != Extract(choices=("a",))  # so caches key on it


def test_read_focuses_the_best_evidence_and_offers_its_candidates() -> None:
    evidence = [("Unrelated text about bakeries in Selby.", 0.1), (PASSAGE, 0.9)]
    reading = read("Who built the Grey Heron?", evidence, words=400, sentences=1)
    assert reading.passages == ("The Grey Heron is a schooner built by Anna Varn in 1871.",)
    assert reading.extract is not None
    assert "Anna Varn" in reading.extract.choices
    assert all(c[0].isupper() for c in reading.extract.choices)  # who: names only


def test_read_without_candidates_gives_the_evidence_whole_best_first() -> None:
    evidence = [("Bakeries in Selby.", 0.1), (PASSAGE, 0.9)]
    reading = read("Why did the Grey Heron sail?", evidence, words=400, sentences=1)
    assert reading.extract is None
    assert reading.passages == (PASSAGE, "Bakeries in Selby.")


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("Who built the Grey Heron?", True),
        ("Where did it sail from?", True),
        ("In which city was it built?", True),
        ("What kind of ship is the Grey Heron?", False),
    ],
)
def test_wants_name(question: str, name: bool) -> None:
    assert wants_name(question) is name


def test_a_whole_name_is_a_candidate_even_when_it_holds_a_word_of_the_question() -> None:
    spans = text_spans(
        "During what war was the Azad Hind Dal formed, at which Loughborough college?",
        ["The Azad Hind Dal was formed during World War II by students of Loughborough University."],
    )
    assert "World War II" in spans  # "war" is the question's, but the name is not
    assert "Loughborough University" in spans
    assert "Azad Hind Dal" not in spans  # the question says it whole
