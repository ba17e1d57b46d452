"""The real spaCy pipeline (en_core_web_sm 3.8.0, the pinned package) loads offline, finds named things
and not sentence openers, and links two findings on a shared person."""

from __future__ import annotations

import numpy as np
import pytest

from synthswarm.agents.entities import SPACY_MODEL, Entity, SpacyEntities, entity_extractor, spacy_installed
from synthswarm.agents.synthesis import SynthesisSettings, link_of
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not spacy_installed(), reason=f"spaCy or {SPACY_MODEL} is not installed"),
]


def finding(seed: int, text: str, source: str) -> OutcomePacket:
    return make_packet(
        Identity.from_seed(bytes([seed]) * 32), kind="finding", topic="t", finding=text,
        embedding=np.ones(8, np.float32), evidence=(source,),
    )  # fmt: skip


def test_the_pinned_pipeline_finds_named_things_and_no_sentence_openers() -> None:
    extractor = entity_extractor("spacy")
    assert isinstance(extractor, SpacyEntities)
    first, second = extractor.extract(
        ["However, it also lives in Asia.", "However, his early works were lost in Paris in 1910."]
    )
    texts = {e.text for e in first + second}
    assert "However" not in texts
    assert "1910" not in texts  # a DATE: not a label linking joins on
    assert Entity("Paris", "GPE") in second
    assert extractor.loaded


def test_two_findings_link_on_the_person_both_name() -> None:
    settings = SynthesisSettings(entities="spacy")
    a = finding(1, "Barack Obama was born in Honolulu, Hawaii, in 1961.", "bio:0")
    b = finding(2, "However, the memoir Dreams from My Father was written by Barack Obama.", "books:0")
    c = finding(3, "However, the river floods every spring.", "geo:0")
    entities = settings.entity_cache
    found = link_of(b, [a], names_of=entities.of)
    assert found is not None
    assert found[1].entity == "Barack Obama"
    assert link_of(c, [b], names_of=entities.of) is None  # "However" opens both: no link
    assert entities.extracted == 3
