"""Reading: what kind of answer a question wants, what a small model should read, and which phrases of
it the answer may be.

A small model told to "answer with a short phrase" writes sentences, and the more evidence it is
shown the further it strays (SmolLM2-135M: EM 0.02 on the HotpotQA sample with today's prompt). Models
that can (:attr:`~synthswarm.agents.llm.ChatModel.supports_extract`) are instead shown the few sentences that
bear on the question (:func:`focus`; for a question that may take two hops, those along its bridge,
:func:`bridged_focus`) and made to choose their answer among phrases of them, the
candidates set by the kind of answer the question wants (:func:`answer_kind`, :func:`extraction`):

- ``yes/no`` ("Are both ... ?", "Did ... ?"): ``yes`` or ``no``.
- ``choice`` ("Who was born first, X or Y?"): one of the options the question names.
- ``date`` ("When ...", "In what year ..."): one of the dates and years the text holds.
- ``number`` ("How many ...", "How old ..."): one of the numbers it holds, with a scale word
  ("2.5 million").
- ``span`` (everything else): a phrase of the text (:func:`text_spans`: cut at punctuation, function
  words, where a name begins or ends, and the question's own words); not a bare number; a name when
  the question asks who or where.
- ``long`` ("Explain ...", "Why ...", "Describe ..."): no constraint; the model writes.

A date or number question whose text holds none falls back to ``span``. :func:`context_for` orders
the evidence best-first and trims it to a word budget; a free answer reads that. :func:`read` is the
whole path from evidence to what the model reads and may answer, as the answering agent takes it and
as the eval recomputes it to know which candidates the rules offered (its chance baselines).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from synthswarm.agents.llm import Extract
from synthswarm.agents.text import NAME_JOINERS, STOPWORDS, capitalised, sentences, without_possessive

__all__ = [
    "AnswerKind",
    "Reading",
    "answer_kind",
    "bridged_focus",
    "choices_in_question",
    "context_for",
    "extraction",
    "read",
    "text_spans",
    "wants_name",
]

AnswerKind = Literal["yes/no", "choice", "date", "number", "span", "long"]

_AUXILIARY_TEXT = "is are was were am do does did can could will would should shall has have had may might"
_AUXILIARIES = frozenset(_AUXILIARY_TEXT.split())
_LONG = re.compile(
    r"^\s*(why|explain|describe|summari[sz]e|compare|discuss|tell me|how does|how do|how did|how is|"
    r"how are|how can|how would|what is the difference|what are the differences|write|list)\b",
    re.IGNORECASE,
)
_DATE_Q = re.compile(
    r"^\s*when\b|\b(what|which|in what|in which) (year|date|decade|century|month)\b|\bwhat day\b",
    re.IGNORECASE,
)
_NUMBER_Q = re.compile(
    r"\bhow (many|much|old|long|tall|high|far|big|large|deep|wide)\b|\bwhat (percentage|number|population)\b",
    re.IGNORECASE,
)
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DATE = re.compile(
    rf"\b(?:(?:\d{{1,2}} (?:{_MONTHS})|(?:{_MONTHS}) \d{{1,2}}),? \d{{3,4}}|(?:{_MONTHS}) \d{{4}}|"
    rf"\d{{4}}s?|\d{{1,2}}(?:st|nd|rd|th) century)\b"
)
_NUMBER = re.compile(
    r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s(?:million|billion|thousand|hundred|percent|%))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand)\b",
    re.IGNORECASE,
)
_NAME_Q = re.compile(
    r"^\s*(who|whom|whose|where)\b|\b(in|at|from) (which|what) (city|country|state|town)\b", re.IGNORECASE
)
_NUMERIC = re.compile(r"[\d.,%\s]+(?:s|st|nd|rd|th)?")
_ABBREVIATIONS = r"(?<!\b[A-Z])(?<!\bVol)(?<!\bSt)(?<!\bMr)(?<!\bDr)(?<!\bJr)(?<!\bSr)(?<!\bInc)(?<!\bNo)"
_PLACE = re.compile(r"\b([A-Z][\w-]+(?: [A-Z][\w-]+)*), ([A-Z][\w-]+(?: [A-Z][\w-]+)*)\b")
_BREAK = re.compile(_ABBREVIATIONS + r"[.,;:!?]+(?=\s|$)|[()\[\]\"\u201c\u201d]+|\s[-\u2013\u2014]\s")
_WORD = re.compile(r"[\w'\u2019-]+")


def answer_kind(question: str) -> AnswerKind:
    """The kind of answer ``question`` wants (see the module's docstring)."""
    words = question.strip().lower().split()
    if not words:
        return "span"
    if _LONG.search(question):
        return "long"
    if choices_in_question(question):
        return "choice"
    if words[0] in _AUXILIARIES:
        return "yes/no"
    if _DATE_Q.search(question):
        return "date"
    if _NUMBER_Q.search(question):
        return "number"
    return "span"


def wants_name(question: str) -> bool:
    """Whether ``question`` asks who or where ("Who ...", "In which city ..."): its answer, a phrase,
    should be a name."""
    return bool(_NAME_Q.search(question))


@dataclass(frozen=True)
class Reading:
    """What a model answering ``question`` reads (``passages``) and may answer (``extract``; None:
    it writes freely)."""

    passages: tuple[str, ...]
    extract: Extract | None


def read(
    question: str,
    evidence: Sequence[tuple[str, float]],
    *,
    words: int,
    sentences: int,
    search: str | None = None,
) -> Reading:
    """The best ``words`` of ``evidence`` ((text, score) pairs), their ``sentences`` that bear most on
    ``search`` (the question as searched; ``question`` when None), and the answers those allow
    (:func:`extraction`). Without an extract the model reads the evidence whole, best first."""
    best = context_for(evidence, words)
    if answer_kind(question) in ("choice", "yes/no", "long"):
        # A comparison names both its entities, so there is no bridge to follow.
        focused = sources = focus(search or question, best, sentences)
    else:
        focused, sources = bridged_focus(search or question, best, sentences)
    extract = extraction(question, sources)
    if extract is None:
        return Reading(tuple(t for t, _ in sorted(evidence, key=lambda e: -e[1])), None)
    return Reading(tuple(focused), extract)


def choices_in_question(question: str) -> tuple[str, ...]:
    """The two options of an "X or Y?" question ("Who was born first, Pablo Trapero or Aleksander
    Ford?", "Which town is larger, Minden, Nevada or Gardnerville, Nevada?"), else ()."""
    text = question.strip().rstrip("?").strip()
    at = text.lower().rfind(" or ")
    if at < 0:
        return ()
    before, after = text[:at], text[at + 4 :]
    # The second option runs to the end, or to a comma that starts an aside ("..., the 1970 film").
    aside = re.search(r",\s+(?=[a-z])", after)
    second = (after[: aside.start()] if aside else after).strip(" ,.'\"")
    # The first: the run of capitalised words (with joiners, commas, colons) just before " or ";
    # failing that, whatever follows the last comma or colon.
    words = before.split()
    run: list[str] = []
    for word in reversed(words):
        bare = word.strip(",:'\"")
        if capitalised(bare) or (bare.lower() in NAME_JOINERS and run):
            run.insert(0, word)
        else:
            break
    while run and run[0].strip(",:").lower() in NAME_JOINERS:
        run.pop(0)
    first = " ".join(run).strip(" ,:'\"")
    if not first:
        first = re.split(r"[,:]", before)[-1].strip(" '\"") if re.search(r"[,:]", before) else ""
    if not first or not second or len(first.split()) > 8 or len(second.split()) > 8:
        return ()
    return first, second


def extraction(question: str, passages: Sequence[str]) -> Extract | None:
    """What the answer to ``question`` may be copied from, given the evidence ``passages`` (best
    first); None for a question that wants a long answer, or when there is nothing to copy."""
    kind = answer_kind(question)
    if kind == "long":
        return None
    if kind == "yes/no":
        return Extract(choices=("yes", "no"))
    if kind == "choice":
        return Extract(choices=choices_in_question(question))
    found: list[str] = []
    if kind == "date":
        found = [m.group(0) for p in passages for m in _DATE.finditer(p)]
    elif kind == "number":
        found = [m.group(0) for p in passages for m in _NUMBER.finditer(p)]
    found = list(dict.fromkeys(f for f in found if f not in question))
    if found:
        return Extract(choices=tuple(found))
    # Not a date or number question: an answer that is only a number is not what it wants; one
    # that asks who or where wants a name.
    phrases = [p for p in text_spans(question, passages) if not _NUMERIC.fullmatch(p)]
    if wants_name(question):
        phrases = [p for p in phrases if capitalised(p)] or phrases
    return Extract(choices=tuple(phrases)) if phrases else None


def text_spans(question: str, passages: Sequence[str]) -> list[str]:
    """The phrases of ``passages`` an answer may be, each kept once: runs of words cut at
    punctuation, at a possessive, at function words ("was", "in", "by"...) except those inside a
    name ("University of Oxford", "Guardians of the Galaxy"), where a name begins or ends (the
    parts and the whole are kept: "Varn", "pie", "Varn pie"), and at the question's own content
    words. Two names either side of a comma ("Jeffersontown, Kentucky") are also kept together, and
    every whole name of two words or more, even one holding the question's words, unless the question
    says it whole (:func:`_whole_names`)."""
    asked = {_stem(w) for w in _WORD.findall(question.lower()) if w not in STOPWORDS}
    out: dict[str, None] = {}
    for passage in passages:
        for piece in _BREAK.split(passage):
            words = [w.strip("'\"\u2019\u2018") for w in piece.split()]
            run: list[str] = []
            whole: list[str] = []
            for i, word in enumerate(words):
                lower = word.lower()
                following = next((w for w in words[i + 1 :] if w.lower() not in NAME_JOINERS), "")
                named = next((w for w in reversed(run) if w.lower() not in NAME_JOINERS), "")
                joins = lower in NAME_JOINERS and capitalised(named) and capitalised(following)
                cut = _stem(lower) in asked
                if not word or cut or (lower in STOPWORDS and not joins):
                    _keep(run, out)
                    if whole:
                        _keep([*whole, *run], out)
                    run, whole = [], []
                    continue
                boundary = capitalised(word) != capitalised(run[-1]) if run else False
                if boundary and not joins and run[-1].lower() not in NAME_JOINERS:
                    # A name ends or begins ("schooner | Grey Heron", "Heron | sailed"): both parts
                    # are phrases, and so is the whole ("Varn pie").
                    _keep(run, out)
                    whole = [*whole, *run]
                    run = []
                bare = without_possessive(word)
                if bare != word:
                    run.append(bare)
                    _keep(run, out)
                    if whole:
                        _keep([*whole, *run], out)
                    run, whole = [], []
                else:
                    run.append(word)
            _keep(run, out)
            if whole:
                _keep([*whole, *run], out)
        for first, second in _PLACE.findall(passage):
            out[f"{first}, {second}"] = None
        out.update(dict.fromkeys(n for n in _whole_names(passage) if n.lower() not in question.lower()))
    return list(out)


def _whole_names(passage: str) -> list[str]:
    """Every whole name of ``passage`` (a run of capitalised words, joiners inside, no possessive),
    even one holding a word of the question: the question's words cut the other phrases, which would
    lose the answer "World War II" to "what war" or "Loughborough University" to "Loughborough
    Students' Union" (the name whole is kept unless the question says it whole)."""
    found: list[str] = []
    for piece in _BREAK.split(passage):
        run: list[str] = []
        for raw in [*piece.split(), ""]:
            word = raw.strip("'\"\u2019\u2018")
            bare = without_possessive(word)
            if capitalised(bare) and (run or word.lower() not in STOPWORDS):
                run.append(bare)
                if bare != word:
                    found.append(" ".join(run))
                    run = []
            elif run and word.lower() in NAME_JOINERS:
                run.append(word)
            else:
                while run and run[-1].lower() in NAME_JOINERS:
                    run.pop()
                if len(run) > 1:
                    found.append(" ".join(run))
                run = []
    return found


def focus(question: str, passages: Sequence[str], k: int) -> list[str]:
    """The ``k`` sentences of ``passages`` that share the most with ``question`` (its content words,
    stemmed, rarer ones weighing more), in their original order: what a small model can read."""
    found = [s for p in passages for s in sentences(p)]
    if len(found) <= k:
        return found
    scores = _Scored(question, found).scores
    best = sorted(sorted(range(len(found)), key=lambda i: (-scores[i], i))[:k])
    return [found[i] for i in best]


def bridged_focus(question: str, passages: Sequence[str], k: int) -> tuple[list[str], list[str]]:
    """The ``k`` sentences of ``passages`` a small model reads for a question that may take two hops
    ("Which dish is named after the volcano that erupted in 1788?"), and those of them its answer
    may come from, both in their original order.

    The first is the sentence that shares the most with ``question`` (as :func:`focus` scores it).
    The names it brings that the question does not say ("Mount Varn") are the bridge, as the asker's
    second round is the question bridged by its best passage: the other sentences are scored by what
    they share with the question and the bridge together ("Varn pie ... is named after Mount Varn").
    The answer may come from the first sentence and the chosen ones that share a bridge name, when
    any does (not from one that only shares the question's words, "The hills around Caldmoor are
    mined for ..." when the bridge is Brennick); otherwise from all ``k``."""
    found = [s for p in passages for s in sentences(p)]
    if len(found) <= k:
        return found, found
    scored = _Scored(question, found)
    score, stems, weight = scored.scores, scored.stems, scored.weight
    first = min(range(len(found)), key=lambda i: (-score[i], i))
    names = {_stem(w.lower()) for w in _WORD.findall(found[first]) if capitalised(w)}
    bridge = names - scored.asked - STOPWORDS
    bridged = [score[i] + sum(weight[w] for w in bridge & stems[i]) for i in range(len(found))]
    rest = sorted((i for i in range(len(found)) if i != first), key=lambda i: (-bridged[i], i))[: k - 1]
    linked = [i for i in rest if bridge & stems[i]]
    chosen = sorted([first, *rest])
    answered = sorted([first, *linked]) if linked else chosen
    return [found[i] for i in chosen], [found[i] for i in answered]


class _Scored:
    """The sentences ``found`` scored against ``question``: the question's content stems
    (``asked``), each sentence's stems, each stem's weight among the sentences (rarer ones weigh
    more), and each sentence's score, the weights of the question's stems it holds."""

    def __init__(self, question: str, found: Sequence[str]) -> None:
        self.asked = {_stem(w) for w in _WORD.findall(question.lower()) if w not in STOPWORDS}
        self.stems = [{_stem(w) for w in _WORD.findall(s.lower())} for s in found]
        df: dict[str, int] = {}
        for st in self.stems:
            for w in st:
                df[w] = df.get(w, 0) + 1
        self.weight = {w: math.log(1 + len(found) / (1 + n)) for w, n in df.items()}
        self.scores = [sum(self.weight[w] for w in self.asked & st) for st in self.stems]


def context_for(passages: Sequence[tuple[str, float]], budget_words: int) -> list[str]:
    """The texts of ``passages`` ((text, score) pairs), best first, while they fit ``budget_words``
    (the best one always, cut to the budget)."""
    out: list[str] = []
    used = 0
    for text, _ in sorted(passages, key=lambda p: -p[1]):
        words = text.split()
        if out and used + len(words) > budget_words:
            break
        out.append(" ".join(words[: max(1, budget_words - used)]))
        used += len(words)
    return out


def _stem(word: str) -> str:
    """A crude stem, enough to see that "premiered" and "carried" are what "premiere" and "carry" ask."""
    word = word.strip("'\u2019-")
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] in "eiy":
        word = word[:-1]
    return word


def _keep(run: list[str], out: dict[str, None]) -> None:
    while run and run[0].lower() in STOPWORDS:
        run.pop(0)
    while run and run[-1].lower() in STOPWORDS:
        run.pop()
    if run:
        out[" ".join(run)] = None
