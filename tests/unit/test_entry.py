"""The entry step (:mod:`synthswarm.agents.entry`): who answers a question, found through the router
and counted, and the handoff that gives it to an agent on another node."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from synthswarm.agents.dispatcher import build_dispatcher
from synthswarm.agents.entry import (
    ENTRY,
    ROUTED,
    SCAN,
    Bid,
    choose,
    context_of,
    hand_off,
    route,
    scan,
    serve_handoffs,
)
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist, SpecialistSettings
from synthswarm.evals._harness.ask import entry_of
from synthswarm.evals.datasets import synthetic_dataset
from synthswarm.evals.harness import CachedEmbedder, RunSettings, run_once
from synthswarm.swarm._host_messages import (
    HANDED_BYTES,
    Handed,
    HandedEvidence,
    HandoffRequest,
    fit_handed,
)
from synthswarm.swarm.dht import DHTNode, requests_by_category
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import ConfigError, ProtocolError, SwarmError
from synthswarm.swarm.routers import BroadcastRouter, IsolatedRouter, Router
from tests.unit.agents_world import (
    ASTRONOMY,
    ASTRONOMY_FACT,
    BOTANY,
    EMBEDDER,
    joined_pair,
)
from tests.unit.agents_world import (
    context_of as seen,
)

OBSERVATORY = "When was the Veltmar Observatory founded?"
ORCHID = "Who described the orchid Halvia rubra?"
CONFIG: Any = {"configurable": {"thread_id": "t1"}}


def specialist(name_domain: tuple[str, str]) -> Specialist:
    name, domain = name_domain
    return Specialist(
        name, domain, chat=ScriptedChat(default=seen), embedder=EMBEDDER, settings=SpecialistSettings()
    )


async def pair(router: Router, nodes: list[DHTNode]) -> tuple[Specialist, Specialist]:
    return await joined_pair(specialist, router, nodes)


async def test_routed_finds_the_holder_on_another_node_through_the_router_and_counts_it() -> None:
    async with launch_swarm(2) as nodes:
        botany, astronomy = await pair(BroadcastRouter(), nodes)
        vector = await botany.embed(OBSERVATORY)
        before = requests_by_category(nodes)
        choice = await route(botany, OBSERVATORY, vector)
        assert choice.agent_id == astronomy.agent_id
        assert choice.holder == astronomy.node.contact  # type: ignore[union-attr]
        assert choice.lookups == 0
        sent = requests_by_category(nodes) - before
        assert sent["reply"] >= 1  # astronomy's offer came back to the entry's node
        assert choice.messages == sum(sent.values()) > 0
        assert choice.bids[0].agent_id == astronomy.agent_id
        assert botany.agent_id in [b.agent_id for b in choice.bids]  # the entry's own bid competed


async def test_the_entry_answers_when_its_own_passage_wins_and_under_the_entry_rule() -> None:
    async with launch_swarm(2) as nodes:
        botany, _ = await pair(BroadcastRouter(), nodes)
        own = await route(botany, ORCHID, await botany.embed(ORCHID))
        assert (own.agent_id, own.holder) == (botany.agent_id, None)
        itself = await choose(ENTRY, botany, OBSERVATORY, await botany.embed(OBSERVATORY))
        assert (itself.agent_id, itself.holder, itself.messages) == (botany.agent_id, None, 0)


async def test_an_entry_that_routes_nothing_has_only_its_own_bid() -> None:
    async with launch_swarm(2) as nodes:
        botany, _ = await pair(IsolatedRouter(), nodes)
        choice = await route(botany, OBSERVATORY, await botany.embed(OBSERVATORY))
        assert choice.agent_id == botany.agent_id
        assert choice.bids == (Bid(botany.agent_id, choice.bids[0].score),)


async def test_the_scan_reads_every_agent_and_counts_one_lookup_each() -> None:
    async with launch_swarm(2) as nodes:
        botany, astronomy = await pair(IsolatedRouter(), nodes)
        vector = await botany.embed(OBSERVATORY)
        chosen, choice = await scan(OBSERVATORY, vector, [botany, astronomy])
        assert chosen is astronomy
        assert choice.lookups == 2
        assert (await choose(SCAN, botany, OBSERVATORY, vector, [botany, astronomy])).lookups == 2
        with pytest.raises(SwarmError, match="unknown answerer"):
            await choose("nobody", botany, OBSERVATORY, vector)


async def test_a_handed_question_is_gathered_there_and_sent_back_counted_as_handoff() -> None:
    async with launch_swarm(2) as nodes:
        botany, astronomy = await pair(BroadcastRouter(), nodes)
        serve_handoffs(astronomy)
        contact = astronomy.node.contact  # type: ignore[union-attr]
        before = requests_by_category(nodes)
        handed = await hand_off(botany, contact, astronomy.agent_id, OBSERVATORY, answer=False, timeout_s=30)
        assert handed.responder == astronomy.agent_id
        assert handed.text == ""
        context = context_of(handed)
        assert any(e.text == ASTRONOMY_FACT and e.refs for e in context.evidence)
        assert (requests_by_category(nodes) - before)["handoff"] == 2  # the question there, the context back
        answered = await hand_off(botany, contact, astronomy.agent_id, OBSERVATORY, answer=True, timeout_s=30)
        assert ASTRONOMY_FACT in answered.text  # the scripted model repeats the context it was given


async def test_a_handoff_to_an_agent_that_takes_none_over_is_a_swarm_error() -> None:
    async with launch_swarm(2) as nodes:
        botany, astronomy = await pair(BroadcastRouter(), nodes)
        contact = astronomy.node.contact  # type: ignore[union-attr]
        with pytest.raises(SwarmError, match="did not take the question over"):
            await hand_off(botany, contact, astronomy.agent_id, OBSERVATORY, answer=False, timeout_s=30)


def test_handoff_messages_refuse_bad_bytes_and_a_handed_answer_fits_a_frame() -> None:
    with pytest.raises(ProtocolError):
        HandoffRequest.decode(b"\x93\x01\x02")
    with pytest.raises(ProtocolError):
        Handed.decode(msgspec.msgpack.encode([b"x", b"y", "t", [], 0, 0, 0, 0, "extra"]))
    big = HandedEvidence("x" * 6_000, "s", 1.0, refs=("s",))
    handed = fit_handed(Handed(bytes(16), b"a", "", (big,) * 16))
    assert len(msgspec.msgpack.encode(handed)) <= HANDED_BYTES
    assert handed.cut == 16 - len(handed.evidence) > 0
    assert handed.evidence == (big,) * len(handed.evidence)  # the best are kept, in order


def test_the_entry_of_a_question_is_seeded() -> None:
    live = [specialist(BOTANY), specialist(ASTRONOMY), specialist(("music", "Music."))]
    picks = {q: entry_of(q, live, seed=3) for q in ("q1", "q2", "q3", "q4", "q5", "q6")}
    assert picks == {q: entry_of(q, live, seed=3) for q in picks}
    assert len(set(map(id, picks.values()))) > 1  # not always the same agent
    with pytest.raises(ConfigError):
        RunSettings(answerer="passage")


async def test_the_eval_counts_the_entry_step_in_messages_and_the_scan_as_lookups() -> None:
    world = synthetic_dataset(seed=2, domains=4, entities_per_domain=6, questions=6)
    embedder = CachedEmbedder(EMBEDDER)
    vectors = await embedder.embed([p.text for p in world.paragraphs])
    rows = {
        rule: (
            await run_once(world, vectors, 4, "broadcast", embedder=embedder, seed=1,
                           settings=RunSettings(answerer=rule))
        ).row
        for rule in (ENTRY, ROUTED, SCAN)
    }  # fmt: skip
    assert {rule: row.answerer for rule, row in rows.items()} == {r: r for r in rows}
    assert rows[SCAN].scan_lookups_per_question == 4
    assert rows[ROUTED].scan_lookups_per_question == rows[ENTRY].scan_lookups_per_question == 0
    assert rows[ROUTED].handoff_messages_per_question > 0
    assert rows[ENTRY].handoff_messages_per_question == rows[SCAN].handoff_messages_per_question == 0
    assert rows[ROUTED].handoffs_failed == 0
    # the routed step sends a query and hears replies before the answerer asks: it costs more
    assert rows[ROUTED].messages_per_question > rows[ENTRY].messages_per_question
    isolated = await run_once(world, vectors, 4, "isolated", embedder=embedder, seed=1)
    assert isolated.row.answerer == SCAN  # the baseline's default: the strongest isolated agent
    same = RunSettings(isolated_answerer="")
    assert (
        await run_once(world, vectors, 4, "isolated", embedder=embedder, seed=1, settings=same)
    ).row.answerer == (same.answerer)


async def test_the_dispatcher_routes_from_its_entry_and_consults_a_specialist_elsewhere_by_handoff() -> None:
    async with launch_swarm(2) as nodes:
        botany, astronomy = await pair(BroadcastRouter(), nodes)
        serve_handoffs(astronomy)
        # The dispatcher's team is botany alone: astronomy lives elsewhere, reachable only by its node.
        graph = build_dispatcher([botany], embedder=EMBEDDER, fan_out=1, names={astronomy.agent_id: "astro"})
        before = requests_by_category(nodes)
        state = await graph.ainvoke({"messages": [("user", OBSERVATORY)]}, CONFIG)
        assert [c["name"] for c in state["chosen"]] == ["astro"]
        assert state["chosen"][0]["agent_id"] == astronomy.agent_id.hex()
        assert ASTRONOMY_FACT in state["answer"]  # astronomy's answer, written where it lives
        sent = requests_by_category(nodes) - before
        assert sent["handoff"] == 2
        provenance = state["messages"][-1].response_metadata["provenance"]
        assert provenance["specialists"] == ["astro"]
        assert provenance["messages"] >= sum(sent.values()) - sent["handoff"]  # the entry step counted


async def test_the_dispatcher_over_joined_specialists_asks_the_best_bidder_and_counts_the_step() -> None:
    async with launch_swarm(2) as nodes:
        botany, astronomy = await pair(BroadcastRouter(), nodes)
        graph = build_dispatcher([botany, astronomy], embedder=EMBEDDER, fan_out=1, entry="botany")
        state = await graph.ainvoke({"messages": [("user", OBSERVATORY)]}, CONFIG)
        assert [c["name"] for c in state["chosen"]] == ["astronomy"]
        assert "holder" not in state["chosen"][0]  # in this process: consulted as an object
        assert state["route_messages"] > 0
        with pytest.raises(SwarmError, match="not in the team"):
            build_dispatcher([botany], embedder=EMBEDDER, entry="astronomy")
