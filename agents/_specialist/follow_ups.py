"""Follow-ups: what to search with for a question asked after earlier turns of a conversation.

A question that refers back ("and where was he born?") is searched for with what it refers to in
front of it; the model is then shown the earlier turns (``HISTORY_TURNS`` of them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["HISTORY_TURNS", "Turn", "follow_up_query"]


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation: what was asked, and what was answered."""

    question: str
    answer: str


HISTORY_TURNS = 2
"""Earlier turns a follow-up's prompt shows the model (the search uses the last one)."""
_REFERRING = frozenset(
    [
        "he",
        "she",
        "him",
        "her",
        "his",
        "hers",
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "there",
        "then",
        "that",
        "this",
        "those",
        "these",
    ]
)


_OPENERS = frozenset(["the", "a", "an", "in", "on", "at", "of", "by", "for", "and", "but", "or", "yes", "no"])


def follow_up_query(question: str, history: Sequence[Turn]) -> str:
    """What to search with for ``question`` asked after ``history``: the question alone, unless it
    refers back (a pronoun such as "he" or "there", or an opening "and"). Then the names the last
    answer brought that its question did not ask about go in front of it: what "she" most likely
    stands for ("Who described Halvia rubra?" "... the naturalist Ilse Korrin." "And which observatory
    did she found?" searches for "Ilse Korrin And which ..."). Without such names, the last answer
    goes in front. A question that names its own subject changes the topic and is searched alone."""
    if not history:
        return question
    words = re.findall(r"[a-z]+", question.lower())
    if not words or not (words[0] == "and" or _REFERRING.intersection(words)):
        return question
    last = history[-1]
    asked = set(re.findall(r"[a-z]+", last.question.lower())) | _REFERRING | _OPENERS
    names = [w for w in re.findall(r"\b[A-Z][\w'-]*", last.answer) if w.lower() not in asked]
    return f"{' '.join(dict.fromkeys(names)) or last.answer} {question}"
