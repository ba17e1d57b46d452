"""Plain-text helpers shared by reading and synthesis: sentences, names, stopwords.

Deliberately simple (no tagger, no model): a name is a run of capitalised words, joined by "of",
"the", "de"... when those sit between capitalised words ("University of Oxford"), not at the start of
a sentence on its own ("The", "In"). Linking takes its entities from a model where it can
(:mod:`synthswarm.agents.entities`); these runs are its fallback.
"""

from __future__ import annotations

import re

__all__ = ["NAME_JOINERS", "STOPWORDS", "capitalised", "names", "sentences", "without_possessive"]

_STOPWORD_TEXT = (
    "a an the of in on at to for by with from and or but as is was were are be been being am has have "
    "had do does did that which who whom whose this these those it its his her hers their theirs he "
    "she they them him we our you your i me my there than then also into onto over under after "
    "before during while when where what how why not no so such both either neither each all any "
    "some one only first later about between through against among upon within without"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
NAME_JOINERS = frozenset(["of", "the", "and", "de", "von", "van", "for", "&"])

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_TOKEN = re.compile(r"[\w'\u2019.&-]+")
_TRIM = "'\u2019.,;:!?-"
_POSSESSIVE = re.compile(r"('s|\u2019s)$")


def sentences(text: str) -> list[str]:
    """``text`` split after ., ! or ? where a capital (or digit) starts the next sentence."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def without_possessive(word: str) -> str:
    """``word`` without a possessive ending ("Heller's" -> "Heller")."""
    return _POSSESSIVE.sub("", word)


def capitalised(word: str) -> bool:
    return bool(word) and (word[0].isupper() or word[0].isdigit())


def names(text: str, *, lone_openers: bool = True) -> list[str]:
    """The names in ``text``, in order, each once: runs of capitalised words (with joiners inside),
    without a possessive ending; a lone capitalised stopword ("The", "He") is not a name, nor is a
    number. ``lone_openers=False``: nor is one word that only ever stands first in a sentence
    ("However, ...", "Born in ...": capitalised because they open it), while "Paris" stays a name if
    it also stands inside some sentence of ``text``."""
    out: dict[str, None] = {}
    openers: set[str] = set()
    inside: set[str] = set()
    for sentence in sentences(text):
        found = _sentence_names(sentence)
        for name, first in found:
            out[name] = None
            (openers if first and " " not in name else inside).add(name)
    if lone_openers:
        return list(out)
    return [n for n in out if n in inside or n not in openers]


def _sentence_names(sentence: str) -> list[tuple[str, bool]]:
    """The runs of capitalised words in ``sentence``, each with whether it is its first word."""
    out: list[tuple[str, bool]] = []
    words = [w.strip(_TRIM) for w in _TOKEN.findall(sentence)]
    run: list[str] = []
    start = 0
    for i, word in enumerate(words):
        inner = bool(run) and i + 1 < len(words) and words[i + 1][:1].isupper()
        joins = word.lower() in NAME_JOINERS and inner
        if word[:1].isupper() and not (not run and word.lower() in STOPWORDS):
            if not run:
                start = i
            bare = without_possessive(word)
            run.append(bare)
            if bare != word:
                _add(run, start == 0, out)
                run = []
        elif joins:
            run.append(word)
        else:
            _add(run, start == 0, out)
            run = []
    _add(run, start == 0, out)
    return out


def _add(run: list[str], first: bool, out: list[tuple[str, bool]]) -> None:
    while run and run[-1].lower() in NAME_JOINERS:
        run.pop()
    if run:
        out.append((" ".join(run), first))
