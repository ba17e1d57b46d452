"""Answer scoring follows the official HotpotQA normalisation."""

from __future__ import annotations

import pytest

from synthswarm.agents.answers import contains_answer, exact_match, f1_score, normalize_answer


def test_normalisation_drops_case_punctuation_articles_and_spaces() -> None:
    assert normalize_answer("  The  Veltmar, Observatory! ") == "veltmar observatory"
    assert normalize_answer("An apple a day") == "apple day"


@pytest.mark.parametrize(
    ("prediction", "gold", "em", "f1"),
    [
        ("the Veltmar Observatory", "Veltmar Observatory", True, 1.0),
        ("Veltmar", "Veltmar Observatory", False, 2 / 3),
        ("yes", "no", False, 0.0),
        ("Caldmoor", "Port Ambrel", False, 0.0),
    ],
)
def test_exact_match_and_f1(prediction: str, gold: str, em: bool, f1: float) -> None:
    assert exact_match(prediction, gold) is em
    assert f1_score(prediction, gold) == pytest.approx(f1)


def test_contains_answer_matches_whole_words_only() -> None:
    assert contains_answer("It premiered in Caldmoor in 1902.", "caldmoor")
    assert contains_answer("The comet Pell-7 was found", "Pell-7")
    assert not contains_answer("It was in 18740", "1874")
    assert not contains_answer("anything", "")
