"""Synthesis: parents cited, loops bounded by ttl, depth and de-duplication, conflicts flagged."""

from __future__ import annotations

import time

import numpy as np
import pytest

from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.synthesis import (
    Link,
    SynthesisSettings,
    Synthesizer,
    find_conflicts,
    find_link,
    link_of,
    links_of,
)
from synthswarm.swarm.errors import ConfigError, ModelUnavailableError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, make_packet

ALICE, BOB, CAROL, DAVE = (Identity.from_seed(bytes([i]) * 32) for i in (1, 2, 3, 4))
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


async def combine(
    synth: Synthesizer, a: OutcomePacket, b: OutcomePacket, now_ms: int = NOW
) -> OutcomePacket | None:
    found = link_of(b, [a])
    assert found is not None, "the test's findings should share a name"
    return await synth.link(found[0], b, found[1], now_ms=now_ms)


async def test_a_synthesis_cites_its_parents_and_inherits_their_bounds() -> None:
    a = finding(ALICE, "Halvia rubra was described by Ilse Korrin.", [1, 0], evidence=("botany:0",))
    b = finding(
        BOB, "Ilse Korrin founded the Veltmar Observatory in 1874.", [0, 1], ttl_s=600, evidence=("astro:0",)
    )
    packet = await combine(Synthesizer(CAROL), a, b)
    assert packet is not None
    assert packet.kind is PacketKind.SYNTHESIS
    assert packet.parents == (a.id, b.id)
    assert packet.depth == 1
    assert packet.origin == CAROL.id
    assert packet.evidence == ("botany:0", "astro:0")
    assert packet.ttl_s == 600  # no longer than its shortest-lived parent
    assert packet.finding == "Halvia rubra was described by Ilse Korrin; " + b.finding
    assert packet.confidence == pytest.approx(1.0)


async def test_loops_are_bounded_by_dedup_depth_and_ttl() -> None:
    synth = Synthesizer(CAROL, settings=SynthesisSettings(max_depth=2))
    a, b = finding(ALICE, "Ilse Korrin is one.", [1, 0]), finding(BOB, "Ilse Korrin is two.", [0, 1])
    assert await combine(synth, a, b) is not None
    assert await combine(synth, a, b) is None  # the same parents again
    other = Synthesizer(DAVE)
    other.seen((await combine(Synthesizer(CAROL), a, b)) or a)
    assert await combine(other, a, b) is None  # another agent already combined them
    deep = make_packet(
        BOB, kind="synthesis", topic="t", finding="Ilse Korrin is deep.",
        embedding=np.eye(8, dtype=np.float32)[1], parents=[b"\x01" * 32, b"\x02" * 32], depth=2,
        created_at_ms=NOW,
    )  # fmt: skip
    assert await combine(synth, a, deep) is None  # would be depth 3 > 2
    stale = finding(BOB, "Ilse Korrin is stale.", [0, 1], ttl_s=1)
    assert await combine(synth, a, stale, now_ms=NOW + 5000) is None  # a parent expired
    assert await synth.link(a, a, Link("Ilse Korrin", "x", "y"), now_ms=NOW) is None  # one distinct parent


async def test_conflicting_findings_are_flagged_not_merged_silently() -> None:
    a = finding(ALICE, "The Veltmar Observatory opened in 1874.", [1, 0.1])
    b = finding(BOB, "The Veltmar Observatory opened in 1881.", [1, 0.12])
    packet = await combine(Synthesizer(CAROL), a, b)
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


async def test_a_model_without_structured_output_leaves_the_claim_deterministic() -> None:
    a, b = finding(ALICE, "Ilse Korrin is one.", [1, 0]), finding(BOB, "Ilse Korrin is two.", [0, 1])
    chat = ScriptedChat()  # no structured output: never called
    packet = await combine(Synthesizer(CAROL, chat=chat), a, b)
    assert packet is not None
    assert packet.finding == "Ilse Korrin is one; Ilse Korrin is two."
    assert chat.calls == []

    def down(messages: object) -> str:
        raise ModelUnavailableError("down")

    packet = await combine(Synthesizer(CAROL, chat=ScriptedChat(default=down, structured=True)), a, b)
    assert packet is not None
    assert packet.finding == "Ilse Korrin is one; Ilse Korrin is two."


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"synthesis.max_depth"):
        SynthesisSettings(max_depth=0)
    with pytest.raises(ConfigError, match=r"synthesis.budget"):
        SynthesisSettings(budget=-1)


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
    # Another specificity (the linking agent's: the rarest name it has seen) chooses another link.
    rarest = find_link(
        "Tomas Heller designed the Orrin Bridge. He lived in Caldmoor.",
        "Tomas Heller's Harbour Symphony premiered in Caldmoor in 1902.",
        specificity=lambda name: ({"Caldmoor": 2, "Tomas Heller": 9}[name],),
    )
    assert rarest is not None
    assert rarest.entity == "Caldmoor"


def test_a_received_finding_links_to_every_own_finding_it_connects_to_most_specific_first() -> None:
    bridge = finding(ALICE, "Tomas Heller designed the Orrin Bridge in Caldmoor.", [1, 0], evidence=("a:0",))
    market = finding(ALICE, "The spice market of Caldmoor trades pepper.", [1, 0], evidence=("a:1",))
    other = finding(ALICE, "Smoked eel is a dish of the Ambrel Sound.", [1, 0], evidence=("a:2",))
    theirs = finding(BOB, "Tomas Heller's symphony premiered in Caldmoor.", [0, 1], evidence=("b:0",))
    found = links_of(theirs, [market, other, bridge])
    assert [(mine.id, link.entity) for mine, link in found] == [
        (bridge.id, "Tomas Heller"),
        (market.id, "Caldmoor"),
    ]
    assert link_of(theirs, [market, other, bridge]) == found[0]
    rare = links_of(
        theirs, [market, bridge], specificity=lambda name: ({"Caldmoor": 1, "Tomas Heller": 5}[name],)
    )
    assert [(mine.id, link.entity) for mine, link in rare] == [
        (market.id, "Caldmoor"),
        (bridge.id, "Caldmoor"),
    ]


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


async def test_an_event_budget_counts_packets_received_not_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    synth = Synthesizer(CAROL, settings=SynthesisSettings(budget=1, budget_window_packets=3))
    a = finding(ALICE, "Ilse Korrin described Halvia rubra.", [1, 0], evidence=("botany:0",))
    b = finding(BOB, "Ilse Korrin founded the Veltmar Observatory.", [0, 1], evidence=("astro:0",))
    c = finding(BOB, "Ilse Korrin was born in Selby.", [0, 1], evidence=("astro:1",))
    d = finding(DAVE, "Ilse Korrin died in Selby.", [0, 1], evidence=("astro:2",))
    assert await combine(synth, a, b) is not None
    clock = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: clock + 1e6)  # hours pass: no matter
    assert await combine(synth, a, c) is None
    assert synth.refused == 1
    for packet in (b, c):
        synth.seen(packet)
    assert not synth.has_budget()  # two packets since: the window is three
    synth.seen(d)
    assert synth.has_budget()
    assert await combine(synth, a, c) is not None
    assert synth.packets_seen == 3
    with pytest.raises(ConfigError, match=r"synthesis.budget_window_packets"):
        SynthesisSettings(budget_window_packets=0)


async def test_a_wall_clock_budget_refills_with_time(monkeypatch: pytest.MonkeyPatch) -> None:
    synth = Synthesizer(CAROL, settings=SynthesisSettings(budget=1, budget_window_s=60))
    a = finding(ALICE, "Ilse Korrin described Halvia rubra.", [1, 0], evidence=("botany:0",))
    b = finding(BOB, "Ilse Korrin founded the Veltmar Observatory.", [0, 1], evidence=("astro:0",))
    c = finding(BOB, "Ilse Korrin was born in Selby.", [0, 1], evidence=("astro:1",))
    assert await combine(synth, a, b) is not None
    assert await combine(synth, a, c) is None
    clock = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: clock + 61)
    assert await combine(synth, a, c) is not None  # the live default: a minute later, room again
