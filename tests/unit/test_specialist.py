"""Specialist: answers with evidence, the tool loop, queries and replies, synthesis on open tasks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from synthswarm.agents.asking import AskSettings
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist, SpecialistSettings
from synthswarm.agents.synthesis import SynthesisSettings
from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.direct import reply_ref
from synthswarm.swarm.errors import ConfigError, SwarmError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.packet import OutcomePacket, PacketKind
from synthswarm.swarm.routers import BroadcastRouter, DHTRouter, IsolatedRouter, Router
from synthswarm.swarm.semantic import SemanticHasher
from synthswarm.tools import tool
from tests.unit.agents_world import (
    ASTRONOMY,
    ASTRONOMY_FACT,
    BOTANY,
    BOTANY_FACT,
    EMBEDDER,
    QUESTION,
    chat,
    context_of,
    joined_pair,
)


def specialist(
    name_domain: tuple[str, str], model: ScriptedChat | None = None, **settings: object
) -> Specialist:
    name, domain = name_domain
    return Specialist(
        name,
        domain,
        chat=model or chat(),
        embedder=EMBEDDER,
        settings=SpecialistSettings(**settings),  # type: ignore[arg-type]
    )


@pytest.fixture
async def nodes() -> AsyncIterator[list[DHTNode]]:
    async with launch_swarm(2) as swarm:
        yield swarm


async def pair(router: Router, nodes: list[DHTNode]) -> tuple[Specialist, Specialist]:
    return await joined_pair(specialist, router, nodes)


async def test_answer_from_own_knowledge_carries_its_evidence() -> None:
    botany = specialist(BOTANY, ScriptedChat(default=context_of))
    await botany.learn([BOTANY_FACT])
    answer = await botany.answer("Who described the orchid Halvia rubra?")
    assert answer.text == BOTANY_FACT
    assert [e.source for e in answer.evidence] == ["botany:0"]
    assert answer.packets == ()
    assert answer.origins == ()
    assert answer.llm_calls == 1
    assert answer.messages == 0


async def test_a_question_needing_another_agents_fact_is_answered_through_the_swarm(
    nodes: list[DHTNode],
) -> None:
    botany, astronomy = await pair(BroadcastRouter(), nodes)
    answer = await botany.answer(QUESTION)
    assert answer.text == "1874"
    assert answer.origins == (astronomy.agent_id,)
    assert "astronomy:0" in {e.source for e in answer.evidence}  # offered, then fetched whole
    assert astronomy.stats.replies_sent >= 1
    assert answer.messages >= 1
    assert answer.shared is not None  # the answer went out as a finding
    await astronomy.drain()
    await botany.drain()
    [hit] = [h for h in await astronomy.memory.search_inbox(QUESTION, 5) if h.packet.id == answer.shared]
    assert hit.packet.parents == answer.packets


async def test_the_same_agents_isolated_cannot_answer(nodes: list[DHTNode]) -> None:
    botany, astronomy = await pair(IsolatedRouter(), nodes)
    answer = await botany.answer(QUESTION)
    assert answer.text == "unknown"
    assert answer.origins == ()
    assert answer.messages == 0
    assert astronomy.stats.replies_sent == 0


async def test_a_received_finding_that_names_what_an_agent_knows_is_synthesized(nodes: list[DHTNode]) -> None:
    botany, astronomy = await pair(BroadcastRouter(), nodes)
    await botany.share_knowledge()
    await astronomy.drain()
    report = await astronomy.publish(await astronomy.distill("The Hollin Telescope was completed in 1861."))
    assert report is not None
    await botany.drain()
    assert botany.stats.syntheses == 0  # no name in common with what botany knows: nothing combined
    report = await astronomy.publish(await astronomy.distill(ASTRONOMY_FACT, evidence=["astro:0"]))
    assert report is not None
    assert report.delivered_to == (botany.agent_id,)
    await botany.drain()
    assert botany.stats.syntheses == 1
    assert botany.stats.synthesis_messages == 1  # broadcast to the one other agent
    [synthesis] = [
        h.packet
        for h in await astronomy.memory.search_inbox(QUESTION, 10)
        if h.packet.kind is PacketKind.SYNTHESIS
    ]
    assert synthesis.origin == botany.agent_id
    assert synthesis.topic == "link: Ilse Korrin"
    assert len(synthesis.parents) == 2
    assert BOTANY_FACT.rstrip(".") in synthesis.finding
    assert ASTRONOMY_FACT in synthesis.finding
    assert "astro:0" in synthesis.evidence
    # the same finding again, or catching up on the inbox, makes no second synthesis (de-duplication)
    assert await botany.synthesize_received() == 0


async def linked_once(
    nodes: list[DHTNode], facts: list[str], received: str
) -> tuple[Specialist, OutcomePacket]:
    """A music agent knowing ``facts``, with a budget of one synthesis, after another agent published
    ``received`` and it linked what it got: the agent, and the one synthesis it made."""
    router = BroadcastRouter()
    music = Specialist(
        "music", "Music: composers.", chat=chat(), embedder=EMBEDDER,
        settings=SpecialistSettings(synthesize=False), synthesis=SynthesisSettings(budget=1),
    )  # fmt: skip
    other = specialist(ASTRONOMY, synthesize=False)
    await music.learn(facts)
    await music.join(router, nodes[0])
    await other.join(router, nodes[1])
    await music.share_knowledge()
    await other.publish(await other.distill(received, evidence=["o:0"]))
    await music.drain()
    assert await music.synthesize_received() == 1  # the budget of one
    [synthesis] = [p for p in await other.memory.received(str(PacketKind.SYNTHESIS))]
    return music, synthesis


async def test_a_spent_budget_goes_to_the_rarest_link_an_agent_has_seen(nodes: list[DHTNode]) -> None:
    facts = [
        "Tomas Heller designed a bridge.",
        "Tomas Heller taught music.",
        "The market of Brennick sells honey.",
    ]
    # "Tomas Heller" (two words) is in three of the four findings music has seen, "Brennick" in two.
    music, synthesis = await linked_once(nodes, facts, "Tomas Heller's symphony premiered in Brennick.")
    assert synthesis.topic == "link: Brennick"
    assert music._findings["music:2"].id in synthesis.parents
    assert music.synthesizer.refused == 2  # the two links through Tomas Heller, refused and counted


async def test_a_link_through_what_a_finding_is_about_comes_before_a_rarer_passing_name(
    nodes: list[DHTNode],
) -> None:
    facts = ["Mark Lindsay is a singer.", "Mark Lindsay sang in Portland."]
    # "Portland" is rarer (two findings to three), but a finding is about Mark Lindsay.
    music, synthesis = await linked_once(nodes, facts, "Arizona was a hit for Mark Lindsay in Portland.")
    assert synthesis.topic == "link: Mark Lindsay"
    assert music._findings["music:0"].id in synthesis.parents


async def test_duplicates_and_own_packets_are_ignored(nodes: list[DHTNode]) -> None:
    botany, _ = await pair(BroadcastRouter(), nodes)
    own = await botany.distill("my own finding")
    await botany.on_packet(own)
    assert botany.stats.received == {}
    other = await specialist(ASTRONOMY).distill(ASTRONOMY_FACT)
    await botany.on_packet(other)
    await botany.on_packet(other)
    assert botany.stats.received == {"finding": 1}


async def test_the_tool_loop_runs_tools_and_feeds_results_back() -> None:
    @tool
    def exchange_rate(currency: str) -> float:
        """The value of one unit of a currency in crowns.

        Args:
            currency: Three-letter code.
        """
        return {"EUR": 11.5}[currency]

    model = ScriptedChat(
        [
            ScriptedChat.tool_call("exchange_rate", {"currency": "EUR"}, call_id="c1"),
            ScriptedChat.tool_call("no_such_tool", {}, call_id="c2"),
            ScriptedChat.tool_call("calculator", {"expression": "11.5 * 4"}, call_id="c3"),
            "46 crowns",
        ]
    )
    agent = Specialist(*BOTANY, chat=model, embedder=EMBEDDER, tools=[exchange_rate])
    answer = await agent.answer("What do 4 euros cost in crowns?", ask_swarm=False)
    assert answer.text == "46 crowns"
    assert answer.llm_calls == 4
    offered = {t.name for t in model.calls[0].options.tools}
    assert offered == {"search_knowledge", "search_inbox", "ask_swarm", "calculator", "exchange_rate"}
    tool_turns = [m for m in model.calls[-1].messages if m.role == "tool"]
    assert [(m.tool_call_id, m.content) for m in tool_turns] == [
        ("c1", "11.5"),
        (
            "c2",
            "error: no tool named 'no_such_tool'; the tools are "
            "search_knowledge, search_inbox, ask_swarm, calculator, exchange_rate",
        ),
        ("c3", "46"),
    ]


async def test_search_tools_record_what_the_answer_used(nodes: list[DHTNode]) -> None:
    botany, astronomy = await pair(BroadcastRouter(), nodes)
    model = ScriptedChat(
        [
            ScriptedChat.tool_call("ask_swarm", {"question": "Who founded the Veltmar Observatory?"}),
            "Ilse Korrin",
        ]
    )
    botany.chat = model
    answer = await botany.answer("Who founded the Veltmar Observatory?", ask_swarm=False)
    assert answer.text == "Ilse Korrin"
    assert astronomy.agent_id in answer.origins
    assert ASTRONOMY_FACT in json.dumps([m.content for m in model.calls[-1].messages])


async def test_asking_the_swarm_needs_a_router_and_settings_are_checked() -> None:
    with pytest.raises(SwarmError, match="has not joined a router"):
        await specialist(BOTANY).ask_swarm("anything?")
    with pytest.raises(SwarmError, match="cannot share"):
        await specialist(BOTANY).share_knowledge()
    with pytest.raises(ConfigError, match=r"agent.asking.rounds"):
        SpecialistSettings(asking=AskSettings(rounds=0))
    with pytest.raises(ConfigError, match=r"agent.relevance"):
        SpecialistSettings(relevance=2.0)
    with pytest.raises(ConfigError, match=r"agent.name"):
        Specialist("Bad Name", "x", chat=chat(), embedder=EMBEDDER)


@pytest.mark.parametrize("name", ["broadcast", "dht"])
async def test_agents_that_can_help_promise_a_reply_and_the_rest_stay_silent(name: str) -> None:
    async with launch_swarm(3) as nodes:
        made: Router = BroadcastRouter() if name == "broadcast" else DHTRouter(SemanticHasher(EMBEDDER.dims))
        botany, astronomy = await pair(made, nodes)
        music = specialist(("music", "Music: composers and symphonies."))
        await music.learn(["The Winter Cantata was the last work of Mirren Ash."])
        await music.join(made, nodes[2])
        query = await botany.distill(
            ASTRONOMY_FACT, kind=PacketKind.QUERY, evidence=[reply_ref(nodes[0].contact)]
        )
        report = await botany.publish(query)
        assert report is not None
        assert report.follow_ups == (astronomy.agent_id,)
        assert music.agent_id not in report.follow_ups
        await astronomy.drain()
        assert astronomy.stats.replies_sent == 1
        assert music.stats.replies_sent == 0


async def test_gather_finds_the_context_without_calling_the_model(nodes: list[DHTNode]) -> None:
    botany, _ = await pair(BroadcastRouter(), nodes)
    silent = ScriptedChat()  # any model call would raise: it has no replies
    botany.chat = silent
    context = await botany.gather(QUESTION)
    refs = {ref for e in context.evidence for ref in e.refs}
    assert {"botany:0", "astronomy:0"} <= refs  # its own passage, and the reply's source
    assert context.messages >= 1
    assert context.hops == 1
    assert silent.calls == []


async def test_an_agent_with_nothing_to_offer_relays_the_query_to_the_author_of_a_matching_finding() -> None:
    async with launch_swarm(3) as nodes:
        botany, astronomy = await pair(BroadcastRouter(), nodes)
        music = specialist(("music", "Music: composers and symphonies."))
        await music.learn(["The Winter Cantata was the last work of Mirren Ash."])
        await music.join(botany.router, nodes[2])  # type: ignore[arg-type]
        await astronomy.share_knowledge()  # its findings name its node, so music knows where it answers
        for agent in (botany, astronomy, music):
            await agent.drain()
        asker = NodeHost.on(nodes[0])

        async def query(text: str) -> OutcomePacket:
            return await botany.distill(text, kind=PacketKind.QUERY, evidence=[reply_ref(nodes[0].contact)])

        first = await query(ASTRONOMY_FACT)
        replies = asker.expect(first.id)
        assert await music.on_packet(first)  # nothing of its own: it relayed, and astronomy promised
        assert music.stats.relays_sent == 1
        reply = await asyncio.wait_for(replies.get(), 5)
        assert reply.responder == astronomy.agent_id
        assert reply.holder == nodes[1].contact
        assert "astronomy:0" in {o.source for o in reply.offers}
        assert not await astronomy.on_packet(first)  # reached again by the router: no second promise
        # ttl 1: a relayed query is not relayed on, and relaying can be turned off.
        assert not await music._on_relayed(await query(ASTRONOMY_FACT + " Again?"))
        music.settings = SpecialistSettings(asking=AskSettings(relays=0))
        assert not await music.on_packet(await query(ASTRONOMY_FACT + " Once more?"))
        assert music.stats.relays_sent == 1
        await astronomy.drain()


async def test_a_relayer_speaks_for_an_author_it_cannot_reach_with_its_copies() -> None:
    fast = DHTSettings(initial_timeout_s=0.2, rpc_retries=0)
    async with launch_swarm(3, settings=fast) as nodes:
        botany, astronomy = await pair(BroadcastRouter(), nodes)
        music = specialist(("music", "Music: composers and symphonies."))
        await music.learn(["The Winter Cantata was the last work of Mirren Ash."])
        await music.join(botany.router, nodes[2])  # type: ignore[arg-type]
        await astronomy.share_knowledge()
        await music.drain()
        await nodes[1].kill()  # astronomy's node dies; music holds copies of its findings
        query = await botany.distill(
            ASTRONOMY_FACT, kind=PacketKind.QUERY, evidence=[reply_ref(nodes[0].contact)]
        )
        asker = NodeHost.on(nodes[0])
        replies = asker.expect(query.id)
        assert await music.on_packet(query)
        reply = await asyncio.wait_for(replies.get(), 5)
        assert reply.responder == music.agent_id
        [offer] = [o for o in reply.offers if o.source == "astronomy:0"]
        assert music.stats.copies_offered >= 1
        texts = await asker.fetch(nodes[2].contact, music.agent_id, [offer.passage_id, "copy:zz"])
        assert texts == {offer.passage_id: ASTRONOMY_FACT}
        await music.drain()


async def test_a_model_that_can_extract_chooses_its_short_answer_among_phrases_and_cites_it(
    nodes: list[DHTNode],
) -> None:
    botany, _ = await pair(BroadcastRouter(), nodes)
    model = ScriptedChat(["1874", "Halvia orchids need cool mountain mist"], extract=True)
    botany.chat = model
    answer = await botany.answer(QUESTION)
    assert answer.text == "1874"
    options = model.calls[0].options
    assert options.extract is not None
    assert options.extract.choices == ("1874",)  # a year question: the years the evidence holds
    assert [e.text for e in answer.evidence if e.source in answer.cited] == [ASTRONOMY_FACT]
    # a question that asks for an explanation is written freely
    await botany.answer("Why do Halvia orchids die in dry air?")
    assert model.calls[1].options.extract is None


async def test_a_question_whose_two_facts_were_synthesized_is_answered_from_the_passages_it_names() -> None:
    async with launch_swarm(3) as three:
        botany, astronomy = await pair(BroadcastRouter(), three)
        bystander = specialist(("music", "Music: composers and premieres."), ask_swarm=False)
        await bystander.learn(["The Harbour Symphony premiered in Caldmoor."])
        assert botany.router is not None
        await bystander.join(botany.router, three[2])
        await astronomy.share_knowledge()  # botany has no findings yet: nothing to link to
        await botany.share_knowledge()  # astronomy links botany's finding to its own
        for agent in (botany, astronomy, bystander):
            await agent.drain()
        received = await bystander.memory.received("synthesis")
        pair_made = [p for p in received if p.depth == 1]
        assert len(pair_made) == 1  # the pair was combined once (astronomy, on botany's finding)
        assert pair_made[0].origin == astronomy.agent_id
        answer = await bystander.answer(QUESTION)  # it holds neither fact and queries no one
        # The synthesis is a path, not evidence: the facts are the findings it names, which the
        # bystander received too, so they were not fetched again (tests/unit/test_synthesis_path.py
        # follows a synthesis whose parents the asker lacks).
        assert all(e.packet_id != pair_made[0].id for e in answer.evidence)
        assert {BOTANY_FACT, ASTRONOMY_FACT} <= {e.text for e in answer.evidence if e.refs}
        assert answer.text == "1874"
