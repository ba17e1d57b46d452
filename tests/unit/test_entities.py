"""Entities: the fallback never takes a sentence-opening word, the extractor is chosen by a setting and
says when it falls back, and each packet's entities are extracted once."""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pytest

from synthswarm.agents.entities import (
    CapitalisedEntities,
    Entity,
    PacketEntities,
    SpacyEntities,
    entity_extractor,
)
from synthswarm.agents.synthesis import SynthesisSettings, Synthesizer, link_of
from synthswarm.agents.text import names
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet

ALICE, BOB = Identity.from_seed(b"\x01" * 32), Identity.from_seed(b"\x02" * 32)


def finding(who: Identity, text: str, source: str) -> OutcomePacket:
    return make_packet(
        who, kind="finding", topic="t", finding=text, embedding=np.ones(8, np.float32), evidence=(source,)
    )


class FakeEntities:
    """A scripted extractor: the entities of each text as given, counting the texts it was asked."""

    name = "fake"

    def __init__(self, by_text: dict[str, list[str]]) -> None:
        self.by_text = by_text
        self.asked: list[list[str]] = []

    def extract(self, texts: Sequence[str]) -> list[list[Entity]]:
        self.asked.append(list(texts))
        return [[Entity(e, "PERSON") for e in self.by_text.get(t, [])] for t in texts]


def test_a_sentence_opening_word_is_no_entity_of_the_fallback() -> None:
    first = "However, it also lives in Asia."
    second = "However, his early works were lost."
    assert names(first) == ["However", "Asia"]  # the plain runs, as reading uses them
    assert CapitalisedEntities().extract([first, second]) == [[Entity("Asia", "NAME")], []]
    a, b = finding(ALICE, first, "zoo:0"), finding(BOB, second, "art:0")
    assert link_of(b, [a]) is None  # main linked these two on "However"
    # a name that opens one sentence and stands inside another stays a name, and so does a run
    text = "Paris is large. He moved to Paris. Tomas Heller wrote it."
    assert names(text, lone_openers=False) == ["Paris", "Tomas Heller"]
    assert names("Born in Leeds, she sang.", lone_openers=False) == ["Leeds"]


def test_findings_link_on_a_shared_entity_from_the_extractor() -> None:
    fake = FakeEntities(
        {"Ilse Korrin described Halvia rubra.": ["Ilse Korrin", "Halvia rubra"],
         "Ilse Korrin founded the Veltmar Observatory.": ["Ilse Korrin", "Veltmar Observatory"]}
    )  # fmt: skip
    entities = PacketEntities(lambda: fake)
    a = finding(ALICE, "Ilse Korrin described Halvia rubra.", "botany:0")
    b = finding(BOB, "Ilse Korrin founded the Veltmar Observatory.", "astro:0")
    found = link_of(b, [a], names_of=entities.of)
    assert found is not None
    assert found[1].entity == "Ilse Korrin"
    assert link_of(b, [a], names_of=entities.of, common={"Ilse Korrin"}) is None  # too common
    assert fake.asked == [[b.finding], [a.finding]]  # each packet once, then from the cache
    link_of(b, [a], names_of=entities.of)
    assert entities.extracted == 2
    assert len(fake.asked) == 2


def test_a_batch_is_extracted_in_one_call_and_only_what_is_new() -> None:
    fake = FakeEntities({})
    entities = PacketEntities(lambda: fake)
    packets = [finding(ALICE, f"Text {i}.", f"s:{i}") for i in range(3)]
    entities.prime(packets[:2])
    entities.prime(packets)
    assert fake.asked == [["Text 0.", "Text 1."], ["Text 2."]]


async def test_the_model_runs_off_the_event_loop_and_a_primed_cache_still_pickles() -> None:
    threads: list[int] = []

    class Noting(FakeEntities):
        def extract(self, texts: Sequence[str]) -> list[list[Entity]]:
            threads.append(threading.get_ident())
            return super().extract(texts)

    entities = PacketEntities(lambda: Noting({"Ilse Korrin wrote.": ["Ilse Korrin"]}))
    packet = finding(ALICE, "Ilse Korrin wrote.", "s:0")
    await entities.aprime([packet])
    await entities.aprime([packet])  # known: no second call, no thread
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    assert entities.of(packet) == {"Ilse Korrin"}
    primed = PacketEntities.of_source("capitalised")
    await primed.aprime([packet])
    again = pickle.loads(pickle.dumps(primed))  # its lock, model and cache stay behind
    assert (primed.extracted, again.extracted) == (1, 0)
    assert again.of(packet) == {"Ilse Korrin"}


def test_the_source_is_a_setting_and_a_missing_model_falls_back_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert isinstance(entity_extractor("capitalised"), CapitalisedEntities)
    with caplog.at_level(logging.WARNING, logger="synthswarm.agents.entities"):
        fallback = entity_extractor("spacy", model="no_such_pipeline_package")
    assert isinstance(fallback, CapitalisedEntities)
    assert "linked on capitalised runs instead" in caplog.text
    with pytest.raises(ConfigError, match=r"synthesis.entities"):
        entity_extractor("regex")
    with pytest.raises(ConfigError, match=r"synthesis.entities"):
        SynthesisSettings(entities="regex")


def test_agents_given_one_settings_object_share_one_entity_cache() -> None:
    settings = SynthesisSettings(entities="capitalised")
    first, second = Synthesizer(ALICE, settings=settings), Synthesizer(BOB, settings=settings)
    assert first.entities is second.entities  # the model loads once for both
    assert replace(settings, budget=3).entity_cache is settings.entity_cache
    spacy = replace(settings, entities="spacy")
    assert spacy.entity_cache is not settings.entity_cache  # another source, another cache
    assert spacy.entity_cache.source == "spacy"
    assert Synthesizer(ALICE).entities is not Synthesizer(BOB).entities  # separate settings, separate
    # sent to a worker process, it travels without its model or cache
    settings.entity_cache.of(finding(ALICE, "Tomas Heller wrote it.", "a:0"))
    copy = pickle.loads(pickle.dumps(settings))
    assert copy.entity_cache.extracted == 0
    assert copy.entity_cache.source == "capitalised"


@dataclass
class _Span:
    text: str
    label_: str


@dataclass
class _Doc:
    ents: list[_Span]


class _Pipeline:
    """Stands in for a loaded spaCy pipeline: the spans of each text as given."""

    def __init__(self, spans: dict[str, list[_Span]]) -> None:
        self.spans = spans

    def pipe(self, texts: list[str], batch_size: int) -> Iterator[_Doc]:
        return iter([_Doc(self.spans[t]) for t in texts])


def test_spacy_entities_keep_named_things_without_article_or_possessive() -> None:
    text = "The United States' army fought in 1944 under Eisenhower's command; two English poets wrote."
    pipeline = _Pipeline(
        {text: [_Span("The United States'", "GPE"), _Span("1944", "DATE"), _Span("Eisenhower's", "PERSON"),
                _Span("two", "CARDINAL"), _Span("English", "LANGUAGE"), _Span("Eisenhower", "PERSON")]}
    )  # fmt: skip
    extractor = SpacyEntities(pipeline=pipeline)
    assert extractor.loaded
    assert extractor.extract([text]) == [[Entity("United States", "GPE"), Entity("Eisenhower", "PERSON")]]
