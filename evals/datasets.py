"""Datasets for the scaling evals: paragraphs to split among agents, and questions over them.

Both sources give the same shape. A :class:`Question` names the paragraphs its answer needs
(``supporting``), so evidence recall can be scored without any model.

- :func:`load_hotpotqa`: any HotpotQA-format JSON array or JSONL file (``context`` paragraphs as
  ``[title, [sentence, ...]]``, ``supporting_facts`` as ``[title, index]``); paragraphs are keyed by title
  and shared across questions. :data:`HOTPOTQA_SAMPLE` is the 300-question sample shipped in evals/data.
- :func:`synthetic_dataset`: a seeded world of invented entities in several domains, with bridge
  questions (an entity reached through a person named in another domain) and comparison questions
  (two entities of different domains), so the two facts always sit in different domains.

Settings are chosen on one part of a dataset and reported on the other (:meth:`Dataset.split`):
:data:`TUNE` holds the questions whose id's SHA-256 starts with an even byte, :data:`REPORT` the rest.
The split is by id, so a question stays in its part whatever file or order it comes in.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthswarm.swarm.errors import ConfigError

__all__ = [
    "ALL",
    "HOTPOTQA_SAMPLE",
    "PARTS",
    "REPORT",
    "TUNE",
    "Dataset",
    "Paragraph",
    "Question",
    "load_dataset",
    "load_hotpotqa",
    "part_of",
    "synthetic_dataset",
    "synthetic_world",
]

HOTPOTQA_SAMPLE = Path(__file__).resolve().parent / "data" / "hotpot_dev300.jsonl"

#: The part of a dataset the project's settings were chosen on.
TUNE = "tune"
#: The part its figures are reported on: never measured while choosing settings.
REPORT = "report"
#: Every question, both parts.
ALL = "all"
PARTS = (TUNE, REPORT, ALL)


def part_of(question_id: str) -> str:
    """:data:`TUNE` when the first byte of SHA-256 of ``question_id`` (UTF-8) is even, else
    :data:`REPORT`: a fixed, order-free coin per question."""
    return TUNE if hashlib.sha256(question_id.encode()).digest()[0] % 2 == 0 else REPORT


@dataclass(frozen=True)
class Paragraph:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    supporting: tuple[str, ...]
    """Ids of the paragraphs the answer needs."""
    kind: str = "bridge"
    """``bridge`` or ``comparison``."""
    context: tuple[str, ...] = ()
    """Ids of the paragraphs its record came with (gold and distractors); the supporting ones when
    the source gives no more."""


@dataclass(frozen=True)
class Dataset:
    name: str
    paragraphs: tuple[Paragraph, ...]
    questions: tuple[Question, ...]
    part: str = ALL
    """Which part of the questions this is (:data:`TUNE`, :data:`REPORT` or :data:`ALL`)."""

    def index(self) -> dict[str, int]:
        """Paragraph id -> position in :attr:`paragraphs`."""
        return {p.id: i for i, p in enumerate(self.paragraphs)}

    def available(self, question: Question) -> tuple[str, ...]:
        """The supporting paragraphs of ``question`` that the corpus holds."""
        ids = self.index()
        return tuple(p for p in question.supporting if p in ids)

    def complete(self) -> Dataset:
        """Only the questions whose every supporting paragraph is in the corpus."""
        ids = self.index()
        kept = tuple(q for q in self.questions if all(p in ids for p in q.supporting))
        return Dataset(f"{self.name}-complete", self.paragraphs, kept, self.part)

    def split(self, part: str) -> Dataset:
        """Only the questions of ``part`` (:func:`part_of`; :data:`ALL`: every one), with every
        paragraph kept, so both parts are asked of the same corpus split the same way."""
        if part not in PARTS:
            raise ConfigError("eval.part", f"unknown part {part!r}: use {', '.join(PARTS)}")
        if part == ALL:
            return self
        kept = tuple(q for q in self.questions if part_of(q.id) == part)
        return Dataset(f"{self.name}-{part}", self.paragraphs, kept, part)

    def growing(self, n: int, share: int) -> tuple[Dataset, list[int]]:
        """The corpus of ``n`` agents holding about ``share`` paragraphs each, and its questions: the
        questions in order, each bringing its record's paragraphs, until the corpus holds ``n * share``
        (``--protocol growing``: more agents know more). Also the paragraphs' positions here."""
        if share < 1:
            raise ConfigError("eval.share", f"must be at least 1, got {share}")
        ids = self.index()
        chosen: dict[str, None] = {}
        questions = []
        for q in self.questions:
            if len(chosen) >= n * share:
                break
            chosen.update(dict.fromkeys(p for p in (q.context or q.supporting) if p in ids))
            questions.append(q)
        if len(chosen) < n * share:
            raise ConfigError(
                "eval.sizes",
                f"{n} agents of {share} paragraphs need {n * share}; the dataset has {len(chosen)} in all",
            )
        positions = sorted(ids[p] for p in chosen)
        paragraphs = tuple(self.paragraphs[i] for i in positions)
        return Dataset(f"{self.name}-growing{share}", paragraphs, tuple(questions), self.part), positions

    def take(self, questions: int | None) -> Dataset:
        """The first ``questions`` questions, with every paragraph kept (distractors are the point)."""
        if questions is None:
            return self
        return Dataset(self.name, self.paragraphs, self.questions[:questions], self.part)


def load_dataset(name_or_path: str, *, seed: int = 0) -> Dataset:
    """``synthetic``, ``hotpotqa`` (the shipped sample) or a path to a HotpotQA-format file."""
    if name_or_path == "synthetic":
        return synthetic_dataset(seed=seed)
    if name_or_path == "hotpotqa":
        return load_hotpotqa(HOTPOTQA_SAMPLE)
    return load_hotpotqa(Path(name_or_path))


def load_hotpotqa(path: str | Path, *, limit: int | None = None) -> Dataset:
    """Every question of the HotpotQA-format file at ``path`` (a JSON array, or one object a line)."""
    path = Path(path)
    paragraphs: dict[str, Paragraph] = {}
    questions: list[Question] = []
    for where, record in _records(path):
        try:
            for title, sentences in record["context"]:
                if not isinstance(title, str) or not isinstance(sentences, list):
                    raise TypeError("context entries are [title, [sentence, ...]]")
                paragraphs.setdefault(
                    title, Paragraph(title, title, "".join(str(s) for s in sentences).strip())
                )
            supporting = tuple(dict.fromkeys(str(title) for title, _ in record["supporting_facts"]))
            if not supporting:
                raise ValueError("no supporting facts")
            questions.append(
                Question(
                    str(record["_id"]),
                    str(record["question"]),
                    str(record["answer"]),
                    supporting,
                    str(record.get("type", "bridge")),
                    tuple(dict.fromkeys(str(title) for title, _ in record["context"])),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                "dataset", f"{where}: not a HotpotQA record ({exc})", source=f"file {path}"
            ) from exc
        if limit is not None and len(questions) >= limit:
            break
    if not questions:
        raise ConfigError("dataset", f"{path} holds no questions", source=f"file {path}")
    # Some records name supporting paragraphs their context does not include (203 of the 300 in the
    # shipped sample): those stay in `supporting` but can never be found, so even the oracle misses them.
    return Dataset(path.stem, tuple(paragraphs.values()), tuple(questions))


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("dataset", f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        if text.lstrip().startswith("["):
            items = json.loads(text)
            yield from ((f"record {i}", item) for i, item in enumerate(items))
            return
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"line {number}", json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError("dataset", f"{path} is not JSON or JSONL: {exc}", source=f"file {path}") from exc


# --- the synthetic world ------------------------------------------------------------------------------

_DOMAINS = (
    ("astronomy", "observatory", "founded"),
    ("botany", "garden", "planted"),
    ("music", "symphony", "composed"),
    ("architecture", "bridge", "designed"),
    ("maritime", "schooner", "launched"),
    ("medicine", "hospital", "opened"),
    ("geology", "mine", "opened"),
    ("cuisine", "bakery", "opened"),
    ("painting", "fresco", "painted"),
    ("printing", "press", "set up"),
    ("chemistry", "laboratory", "founded"),
    ("weaving", "mill", "built"),
)
_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ren",
    "to",
    "vel",
    "sa",
    "dor",
    "in",
    "bra",
    "ul",
    "the",
    "mar",
    "zo",
    "fen",
    "ost",
)
_CITIES = (
    "Caldmoor",
    "Brennick",
    "Port Ambrel",
    "Dunmere",
    "Veltmar",
    "Kessel",
    "Orla",
    "Tessaly",
    "Harrowgate",
    "Selby",
)


def synthetic_dataset(
    *, seed: int = 0, domains: int = 8, entities_per_domain: int = 16, questions: int = 200
) -> Dataset:
    """A seeded world of ``domains`` x ``entities_per_domain`` paragraphs and ``questions`` questions,
    two thirds bridge and one third comparison; every question's two paragraphs are in two domains."""
    if not 2 <= domains <= len(_DOMAINS):
        raise ConfigError("dataset.domains", f"must be 2..{len(_DOMAINS)}, got {domains}")
    if entities_per_domain < 2 or questions < 1:
        raise ConfigError("dataset", "need at least 2 entities per domain and 1 question")
    rng = random.Random(seed)
    names = _Names(rng)
    people = [names.person() for _ in range(domains * entities_per_domain // 2)]
    world = []  # (domain, kind, verb, name, person, year, city)
    for domain, kind, verb in _DOMAINS[:domains]:
        for _ in range(entities_per_domain):
            world.append(
                (
                    domain,
                    kind,
                    verb,
                    names.entity(kind),
                    rng.choice(people),
                    rng.randrange(1700, 1950),
                    rng.choice(_CITIES),
                )
            )
    paragraphs = tuple(
        Paragraph(
            f"{domain}/{name}",
            name,
            f"The {name} {kind} was {verb} by {person} in {year}, in the city of {city}.",
        )
        for domain, kind, verb, name, person, year, city in world
    )
    by_person: dict[str, list[int]] = {}
    for i, entity in enumerate(world):
        by_person.setdefault(entity[4], []).append(i)
    out: list[Question] = []
    attempts = 0
    while len(out) < questions and attempts < questions * 50:
        attempts += 1
        if len(out) % 3 == 2:  # comparison
            a, b = rng.sample(range(len(world)), 2)
            if world[a][0] == world[b][0] or world[a][5] == world[b][5]:
                continue
            first = world[a] if world[a][5] < world[b][5] else world[b]
            text = f"Which came first, the {world[a][3]} {world[a][1]} or the {world[b][3]} {world[b][1]}?"
            out.append(
                Question(f"c{len(out)}", text, first[3], (paragraphs[a].id, paragraphs[b].id), "comparison")
            )
            continue
        a = rng.randrange(len(world))
        mine = by_person[world[a][4]]
        # The person must have made exactly one thing in the other domain, or the answer is ambiguous.
        others = [
            b
            for b in mine
            if world[b][0] != world[a][0] and sum(world[c][0] == world[b][0] for c in mine) == 1
        ]
        if not others:
            continue
        b = rng.choice(others)
        da, db = world[a], world[b]
        text = f"In which year was the {db[1]} {db[2]} by the person who {da[2]} the {da[3]} {da[1]}?"
        out.append(Question(f"b{len(out)}", text, str(db[5]), (paragraphs[a].id, paragraphs[b].id), "bridge"))
    return Dataset(f"synthetic-{seed}", paragraphs, tuple(out))


def synthetic_world(paragraphs: int, *, seed: int = 0) -> Dataset:
    """A synthetic world in which the growing protocol (:meth:`Dataset.growing`) reaches ``paragraphs``
    paragraphs: twice as many entities over the default 8 domains, and as many questions as
    ``paragraphs``, which bring about 1.26 times that many distinct paragraphs (each question two of
    the world's, drawn about uniformly). Never smaller than the default world."""
    domains = 8
    return synthetic_dataset(
        seed=seed,
        domains=domains,
        entities_per_domain=max(16, -(-2 * paragraphs // domains)),
        questions=max(200, paragraphs),
    )


class _Names:
    """Unique invented names from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _word(self, parts: int) -> str:
        tries = 0
        while True:
            word = "".join(self.rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()
            if word not in self.used:
                self.used.add(word)
                return word
            tries += 1
            if tries % 64 == 0:  # words this long are (nearly) used up, as in a world of thousands: longer
                parts += 1

    def person(self) -> str:
        return f"{self._word(2)} {self._word(3)}"

    def entity(self, kind: str) -> str:
        return self._word(3)
