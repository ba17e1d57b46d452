"""Reading: answer kinds, what an extractive answer may be copied from, and the decoding mask."""

from __future__ import annotations

from typing import Any

import pytest

from synthswarm.agents.llm import Extract
from synthswarm.agents.llm.extract import ExtractRule
from synthswarm.agents.reading import (
    answer_kind,
    bridged_focus,
    choices_in_question,
    context_for,
    extraction,
    focus,
    read,
    text_spans,
)
from synthswarm.swarm.errors import ModelError


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Are both Oasis and Blur English bands?", "yes/no"),
        ("Did Ilse Korrin found an observatory?", "yes/no"),
        ("Which band was formed first, Oasis or Blur?", "choice"),
        ("When was the Veltmar Observatory founded?", "date"),
        ("In what year did the naturalist found an observatory?", "date"),
        ("How many species of fern does the garden hold?", "number"),
        ("In which city did the symphony premiere?", "span"),
        ("Who discovered Pell-7?", "span"),
        ("Why did the ship sink?", "long"),
        ("Explain how comets return.", "long"),
    ],
)
def test_answer_kind(question: str, kind: str) -> None:
    assert answer_kind(question) == kind


def test_choices_in_question() -> None:
    assert choices_in_question("Who was born first, Pablo Trapero or Aleksander Ford?") == (
        "Pablo Trapero",
        "Aleksander Ford",
    )
    assert choices_in_question("Which magazine was started first Arthur's Magazine or First for Women?") == (
        "Arthur's Magazine",
        "First for Women",
    )
    assert choices_in_question("Where was he born?") == ()


def test_extraction_by_kind() -> None:
    passages = ["Ilse Korrin founded the Veltmar Observatory in 1874.", "It holds 3,000 species of fern."]
    assert extraction("Is the observatory old?", passages) == Extract(choices=("yes", "no"))
    assert extraction("When was the observatory founded?", passages) == Extract(choices=("1874",))
    assert extraction("How many species does it hold?", passages) == Extract(choices=("1874", "3,000"))
    assert extraction("Why was it founded?", passages) is None
    who = extraction("Who founded the Veltmar Observatory?", passages)
    assert who is not None
    assert who.choices == ("Ilse Korrin",)  # who: a name; "species", "fern" are not
    # no date to choose from: a phrase of the text instead ("opened": the question says it)
    assert extraction("When did it open?", ["It opened late."]) == Extract(choices=("late",))


def test_text_spans_cut_at_the_questions_words_punctuation_and_function_words() -> None:
    spans = text_spans(
        "Which comet was discovered by the keeper of the Port Ambrel lighthouse?",
        ["Rana Ostrow discovered the comet Pell-7 in 1911, with a small brass telescope."],
    )
    assert spans == ["Rana Ostrow", "Pell-7", "1911", "small brass telescope"]


def test_context_for_is_best_first_and_trimmed() -> None:
    passages = [("low score words here", 0.1), ("the best one", 0.9), ("middle one here", 0.5)]
    assert context_for(passages, 6) == ["the best one", "middle one here"]
    assert context_for(passages, 2) == ["the best"]  # the best is always shown, cut to the budget


def test_an_extract_needs_something_to_copy() -> None:
    with pytest.raises(ModelError):
        Extract(choices=(" ",))


class _WordTokenizer:
    """Word-level stand-in for a BPE tokenizer: a word after a space is one token marked with Ġ."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {"<eos>": 0}

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, Any]:
        ids = []
        for word in text.split(" "):
            if word:
                ids.append(self.vocab.setdefault("Ġ" + word, len(self.vocab)))
        return {"input_ids": ids}

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        names = {i: w for w, i in self.vocab.items()}
        return [names[i] for i in ids]

    def ids(self, text: str) -> list[int]:
        return list(self(" " + text)["input_ids"])


def test_extract_rule_allows_only_spans_and_ends_at_word_boundaries() -> None:
    tok = _WordTokenizer()
    rule = ExtractRule(Extract(spans_of=("Tomas Heller wrote it", "Caldmoor")), tok, {0})
    start = set(rule.allowed([]))
    assert start == set(tok.ids("Tomas Heller wrote it Caldmoor"))  # any word may begin, no end yet
    tomas, heller = tok.ids("Tomas Heller")
    assert set(rule.allowed([tomas])) == {heller, 0}
    assert rule.allowed(tok.ids("Tomas Heller wrote it")) == [0]  # the text's end: only the end


def test_extract_rule_choices_end_exactly() -> None:
    tok = _WordTokenizer()
    rule = ExtractRule(Extract(choices=("New York", "York")), tok, {0})
    new, york = tok.ids("New York")
    assert set(rule.allowed([])) == {new, york}
    assert rule.allowed([new]) == [york]
    assert rule.allowed([new, york]) == [0]


def test_names_and_their_neighbours_are_phrases_alone_and_together() -> None:
    spans = text_spans(
        "Which dish is named after the volcano?",
        ["Varn pie, a layered lamb pie, is named after Mount Varn.", "Guardians of the Galaxy Vol. 2 won."],
    )
    assert {"Varn pie", "Varn", "pie", "Mount Varn", "Guardians of the Galaxy Vol. 2"} <= set(spans)


def test_focus_keeps_the_sentences_that_share_most_with_the_question_in_order() -> None:
    passages = [
        "Ilse Korrin founded the Veltmar Observatory in 1874. She liked tea.",
        "The orchid Halvia rubra was described by Ilse Korrin. Orchids need mist.",
    ]
    question = "In what year did the naturalist who described the orchid Halvia rubra found an observatory?"
    assert focus(question, passages, 2) == [
        "Ilse Korrin founded the Veltmar Observatory in 1874.",
        "The orchid Halvia rubra was described by Ilse Korrin.",
    ]
    assert len(focus(question, passages, 10)) == 4  # fewer sentences than asked for: all of them


_VOLCANO = "Which dish is named after the volcano of the Kessel Range that erupted in 1788?"
_VOLCANO_TEXT = [
    "Mount Varn in the Kessel Range erupted in 1788 and buried three villages in ash.",
    "Varn pie, a layered lamb and onion pie, is named after Mount Varn.",
    "The Kessel Range is made mostly of granite and slate.",
    "The Sel Aqueduct carries water 30 kilometres from the Kessel Range to Brennick.",
]


def test_bridged_focus_reads_the_sentence_the_first_ones_names_lead_to() -> None:
    # The answer's sentence shares one word with the question; two others share two.
    assert "Varn pie, a layered lamb and onion pie, is named after Mount Varn." not in focus(
        _VOLCANO, _VOLCANO_TEXT, 3
    )
    read_, answered = bridged_focus(_VOLCANO, _VOLCANO_TEXT, 3)
    assert read_ == [_VOLCANO_TEXT[0], _VOLCANO_TEXT[1], _VOLCANO_TEXT[2]]
    # The answer may come from the first sentence and the one the bridge (Mount Varn) leads to.
    assert answered == [_VOLCANO_TEXT[0], _VOLCANO_TEXT[1]]


def test_bridged_focus_keeps_a_sentence_outside_the_bridge_out_of_the_candidates() -> None:
    question = (
        "Which mineral is mined in the hills around the town where the marsh fever vaccine was developed?"
    )
    text = [
        "Doctor Anselm Rook developed the first marsh fever vaccine at Saint Orla Hospital in Brennick.",
        "The hills around Brennick are mined for azurite, a deep blue copper mineral.",
        "The hills around Caldmoor are mined for copper ore and white marble.",
        "Willow bark tea was the usual remedy for fever.",
    ]
    read_, answered = bridged_focus(question, text, 3)
    assert text[2] in read_
    assert answered == text[:2]
    reading = read(question, [(t, 1.0 - i / 10) for i, t in enumerate(text)], words=400, sentences=3)
    assert reading.extract is not None
    assert "azurite" in reading.extract.choices
    assert "white marble" not in reading.extract.choices


def test_bridged_focus_answers_from_all_it_reads_when_no_sentence_shares_the_bridge() -> None:
    question = "What did the Halvia orchid's finder found?"
    text = [
        "The Halvia orchid was found by Ilse Korrin.",
        "An observatory was founded in 1874.",
        "Tea is brewed.",
    ]
    read_, answered = bridged_focus(question, text, 2)
    assert answered == read_
    assert bridged_focus(question, text, 5) == (text, text)  # fewer sentences than asked for: all


def test_a_comparison_is_read_by_the_plain_focus() -> None:
    question = "Which is older, the Sel Aqueduct or Varn pie?"
    evidence = [(t, 1.0) for t in _VOLCANO_TEXT]
    reading = read(question, evidence, words=400, sentences=3)
    assert list(reading.passages) == focus(question, _VOLCANO_TEXT, 3)
