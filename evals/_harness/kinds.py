"""Answers by kind, each beside its chance baseline: what the model adds over a uniform pick among the
candidates the reading rules offered it.

An extractive reader (:mod:`synthswarm.agents.reading`) answers by choosing among candidates: ``yes`` or
``no``, the two options an "X or Y?" question names, the dates or numbers or phrases of its focused
sentences. A share of its exact matches is then luck. Per question, the chance baseline is the expected
EM of a uniform pick among the candidates the rules offered for that question's context: 0.5 for a
yes/no question, 1/2 for a two-way choice whose options hold the answer, the share of matching
candidates for a date, number, name or span. It is 0 where the rules offered none (the model wrote
freely) or none matches: luck could not have got it. The kinds:

- ``yes/no``, ``choice``, ``date``, ``number``, ``long``: as :func:`synthswarm.agents.reading.answer_kind`;
- ``name``: a phrase question that asks who or where (:func:`~synthswarm.agents.reading.wants_name`);
- ``span``: every other phrase question.

The kind is the question's (what the reader was told to look for), not the gold answer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from synthswarm.agents.answers import exact_match
from synthswarm.agents.reading import answer_kind, read, wants_name
from synthswarm.agents.specialist import Context, SpecialistSettings
from synthswarm.evals.datasets import Question

__all__ = ["KINDS", "Judged", "by_kind", "chance", "judge", "offered", "question_kind"]

#: Every kind, in the order the report lists them.
KINDS = ("span", "name", "date", "number", "yes/no", "choice", "long")


@dataclass(frozen=True)
class Judged:
    """One answer: its question's kind, whether it matched exactly, and the chance of a match."""

    kind: str
    em: float
    chance: float


def question_kind(question: str) -> str:
    """The kind of answer ``question`` wants (see the module's docstring)."""
    kind = answer_kind(question)
    if kind == "span" and wants_name(question):
        return "name"
    return kind


def offered(question: str, context: Context, settings: SpecialistSettings) -> tuple[str, ...]:
    """The candidates the reading rules offer an agent of ``settings`` (its word and sentence budgets)
    for ``question`` over ``context``, as its answer would read them; () when it would write freely."""
    evidence = [(e.text, e.score) for e in context.evidence]
    if not evidence:
        return ()
    words, sentences = settings.context_words, settings.focus_sentences
    reading = read(question, evidence, words=words, sentences=sentences)
    return reading.extract.choices if reading.extract is not None else ()


def chance(candidates: Sequence[str], gold: str) -> float:
    """The expected EM of a uniform pick among ``candidates`` (as the model scores them: spaces
    collapsed, each once); 0.0 for none."""
    distinct = list(dict.fromkeys(" ".join(c.split()) for c in candidates if c.strip()))
    if not distinct:
        return 0.0
    return sum(exact_match(c, gold) for c in distinct) / len(distinct)


def judge(question: Question, answer: str, candidates: Sequence[str]) -> Judged:
    """``answer`` to ``question`` judged: its kind, its EM, and the chance of ``candidates``."""
    return Judged(
        question_kind(question.question),
        float(exact_match(answer, question.answer)),
        chance(candidates, question.answer),
    )


def by_kind(judged: Sequence[Judged]) -> dict[str, dict[str, float]]:
    """Per kind present: ``n`` (questions), ``em`` and ``chance`` (their means, rounded to 4 places),
    in :data:`KINDS` order."""
    out: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        mine = [j for j in judged if j.kind == kind]
        if mine:
            out[kind] = {
                "n": len(mine),
                "em": round(sum(j.em for j in mine) / len(mine), 4),
                "chance": round(sum(j.chance for j in mine) / len(mine), 4),
            }
    return out
