"""Synthesis: parents cited, loops bounded by ttl, depth and de-duplication, conflicts flagged."""

from __future__ import annotations

import time

import numpy as np
import pytest

from agents.llm import ScriptedChat
from agents.synthesis import (
    SynthesisSettings,
    Synthesizer,
    find_conflicts,
    find_link,
    link_of,
    merge_sentences,
)
from swarm.errors import ConfigError, ModelUnavailableError
from swarm.identity import Identity
from swarm.packet import OutcomePacket, PacketKind, make_packet

ALICE, BOB, CAROL = (Identity.from_seed(bytes([i]) * 32) for i in (1, 2, 3))
NOW = int(time.time() * 1000)


def finding(
    who: Identity,
    text: str,
    vector: list[float],
    *,
    depth: int = 0,
    ttl_s: int = 3600,
    evidence: tuple[str, ...] = (),
) -> OutcomePacket:
    return make_packet(
        who, kind="finding", topic="t", finding=text, embedding=np.array(vector + [0.0] * 6, np.float32),
        ttl_s=ttl_s, created_at_ms=NOW, evidence=evidence,
    )  # fmt: skip


async def test_a_synthesis_cites_its_parents_and_inherits_their_bounds() -> None:
    a = finding(ALICE, "Halvia rubra was described by Ilse Korrin.", [1, 0], evidence=("botany:0",))
    b = finding(
        BOB, "Ilse Korrin founded the Veltmar Observatory in 1874.", [0, 1], ttl_s=600, evidence=("astro:0",)
    )
    packet = await Synthesizer(CAROL).synthesize("who founded what", [a, b], now_ms=NOW)
    assert packet is not None
    assert packet.kind is PacketKind.SYNTHESIS
    assert packet.parents == (a.id, b.id)
    assert packet.depth == 1
    assert packet.origin == CAROL.id
    assert packet.evidence == ("botany:0", "astro:0")
    assert packet.ttl_s == 600  # no longer than its shortest-lived parent
    assert packet.finding == f"{a.finding} {b.finding}"
    assert packet.confidence == pytest.approx(1.0)


async def test_loops_are_bounded_by_dedup_depth_and_ttl() -> None:
    synth = Synthesizer(CAROL, settings=SynthesisSettings(max_depth=2))
    a, b = finding(ALICE, "one.", [1, 0]), finding(BOB, "two.", [0, 1])
    assert await synth.synthesize("t", [a, b], now_ms=NOW) is not None
    assert await synth.synthesize("t", [b, a], now_ms=NOW) is None  # the same parents again
    deep = make_packet(
        BOB, kind="synthesis", topic="t", finding="deep.", embedding=np.eye(8, dtype=np.float32)[1],
        parents=[b"\x01" * 32], depth=2, created_at_ms=NOW,
    )  # fmt: skip
    assert await synth.synthesize("t", [a, deep], now_ms=NOW) is None  # would be depth 3 > 2
    stale = finding(BOB, "stale.", [0, 1], ttl_s=1)
    assert await synth.synthesize("t", [a, stale], now_ms=NOW + 5000) is None  # only one live parent
    assert await synth.synthesize("t", [a, a], now_ms=NOW) is None  # one distinct parent


async def test_conflicting_findings_are_flagged_not_merged_silently() -> None:
    a = finding(ALICE, "The Veltmar Observatory opened in 1874.", [1, 0.1])
    b = finding(BOB, "The Veltmar Observatory opened in 1881.", [1, 0.12])
    packet = await Synthesizer(CAROL).synthesize("opening", [a, b], now_ms=NOW)
    assert packet is not None
    assert packet.finding.startswith("CONFLICT: ")
    assert "different numbers" in packet.finding
    assert packet.confidence == pytest.approx(0.5)


def test_conflict_rules() -> None:
    same = [1.0, 0.0]
    negation = [
        finding(ALICE, "The bridge was designed by Heller.", same),
        finding(BOB, "The bridge was not designed by Heller.", same),
    ]
    assert "negates" in find_conflicts(negation)[0].reason
    unrelated = [finding(ALICE, "Opened in 1874.", [1, 0]), finding(BOB, "Closed in 1990.", [0, 1])]
    assert find_conflicts(unrelated) == []  # different things may have different numbers
    agreeing = [finding(ALICE, "Opened in 1874.", same), finding(BOB, "It opened in 1874, in spring.", same)]
    assert find_conflicts(agreeing) == []


async def test_a_chat_model_writes_the_text_and_its_failure_falls_back_to_the_merge() -> None:
    a, b = finding(ALICE, "One fact.", [1, 0]), finding(BOB, "Other fact.", [0, 1])
    chat = ScriptedChat(["Both facts, combined."])
    packet = await Synthesizer(CAROL, chat=chat).synthesize("t", [a, b], now_ms=NOW)
    assert packet is not None
    assert packet.finding == "Both facts, combined."
    assert "One fact." in chat.calls[0].last_user_message

    def down(messages: object) -> str:
        raise ModelUnavailableError("down")

    packet = await Synthesizer(CAROL, chat=ScriptedChat(default=down)).synthesize("t", [a, b], now_ms=NOW)
    assert packet is not None
    assert packet.finding == "One fact. Other fact."


def test_merge_keeps_each_sentence_once_and_bad_settings_are_config_errors() -> None:
    assert (
        merge_sentences(["A is big. B is small.", "b is  small. C is new."])
        == "A is big. B is small. C is new."
    )
    with pytest.raises(ConfigError, match=r"synthesis.max_depth"):
        SynthesisSettings(max_depth=0)
    with pytest.raises(ConfigError, match=r"synthesis.max_parents"):
        SynthesisSettings(max_parents=1)


def test_findings_connect_through_the_most_specific_name_they_share() -> None:
    link = find_link(
        "Tomas Heller designed the Orrin Bridge. He lived in Caldmoor.",
        "Tomas Heller's Harbour Symphony premiered in Caldmoor in 1902.",
    )
    assert link is not None
    assert link.entity == "Tomas Heller"  # two words beat one ("Caldmoor")
    assert link.claim == (
        "Tomas Heller designed the Orrin Bridge; "
        "Tomas Heller's Harbour Symphony premiered in Caldmoor in 1902."
    )
    assert find_link("The bridge is old.", "The symphony is long.") is None  # nothing in common
    assert find_link("Tomas Heller wrote it.", "Tomas Heller wrote it.") is None  # the same fact
    assert find_link("Tomas Heller wrote it.", "Tomas Heller sang.", common={"Tomas Heller"}) is None


async def test_a_link_synthesis_is_bounded_by_its_budget_and_counted() -> None:
    synth = Synthesizer(CAROL, settings=SynthesisSettings(budget=1, budget_window_s=3600))
    a = finding(ALICE, "Ilse Korrin described Halvia rubra.", [1, 0], evidence=("botany:0",))
    b = finding(BOB, "Ilse Korrin founded the Veltmar Observatory.", [0, 1], evidence=("astro:0",))
    c = finding(BOB, "Ilse Korrin was born in Selby.", [0, 1], evidence=("astro:1",))
    found = link_of(b, [a])
    assert found is not None
    mine, link = found
    assert mine is a
    packet = await synth.link(a, b, link, now_ms=NOW)
    assert packet is not None
    assert packet.kind is PacketKind.SYNTHESIS
    assert packet.topic == "link: Ilse Korrin"
    assert packet.parents == (a.id, b.id)
    assert packet.evidence == ("botany:0", "astro:0")
    assert await synth.link(a, b, link, now_ms=NOW) is None  # already combined
    second = link_of(c, [a])
    assert second is not None
    assert await synth.link(a, c, second[1], now_ms=NOW) is None  # the budget of one is spent
    assert synth.refused == 1
    assert (
        link_of(finding(BOB, "Halvia rubra again.", [0, 1], evidence=("botany:0",)), [a]) is None
    )  # same passage


async def test_a_capable_model_writes_the_claim_as_structured_output() -> None:
    claim = '{"claim": "Ilse Korrin, who described Halvia rubra, founded the Veltmar Observatory.", '
    claim += '"link": "Ilse Korrin", "parents": [1, 2], "confidence": 0.8, "contradiction": false}'
    chat = ScriptedChat([claim], structured=True)
    synth = Synthesizer(CAROL, chat=chat)
    a = finding(ALICE, "Ilse Korrin described Halvia rubra.", [1, 0])
    b = finding(BOB, "Ilse Korrin founded the Veltmar Observatory.", [0, 1])
    found = link_of(b, [a])
    assert found is not None
    packet = await synth.link(a, b, found[1], now_ms=NOW)
    assert packet is not None
    assert packet.finding == "Ilse Korrin, who described Halvia rubra, founded the Veltmar Observatory."
    assert packet.confidence == pytest.approx(0.8)
    assert chat.calls[0].options.json_schema is not None
    # a reply that is not a claim falls back to the deterministic one
    chat = ScriptedChat(["not json"], structured=True)
    synth = Synthesizer(CAROL, chat=chat)
    packet = await synth.link(a, b, found[1], now_ms=NOW)
    assert packet is not None
    assert packet.finding == found[1].claim
    # a model that flags a contradiction is heard: flagged, confidence halved
    flagged = claim.replace('"contradiction": false', '"contradiction": true')
    synth = Synthesizer(CAROL, chat=ScriptedChat([flagged], structured=True))
    packet = await synth.link(a, b, found[1], now_ms=NOW)
    assert packet is not None
    assert packet.finding.startswith("CONFLICT: ")
    assert packet.confidence == pytest.approx(0.4)
