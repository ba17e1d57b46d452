"""The dispatcher graph: routing, parallel fan-out, composition, provenance, threads, streaming."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from synthswarm.agents.dispatcher import (
    EVENT_ANSWER,
    EVENT_FINAL,
    EVENT_ROUTE,
    build_dispatcher,
    conversation,
    turns_of,
)
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist, SpecialistSettings, Turn, follow_up_query
from synthswarm.swarm.errors import ConfigError, SwarmError
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, BOTANY, BOTANY_FACT, EMBEDDER, context_of

CONFIG: Any = {"configurable": {"thread_id": "t1"}}


async def team(model: ScriptedChat | None = None) -> list[Specialist]:
    out = []
    for (name, domain), fact in ((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT)):
        agent = Specialist(
            name, domain, chat=model or ScriptedChat(default=context_of), embedder=EMBEDDER,
            settings=SpecialistSettings(ask_swarm=False, share_answers=False),
        )  # fmt: skip
        await agent.learn([fact])
        out.append(agent)
    return out


async def test_routes_to_the_closest_specialist_and_reports_provenance() -> None:
    graph = build_dispatcher(await team(), embedder=EMBEDDER, fan_out=1)
    state = await graph.ainvoke({"messages": [("user", "Which observatory did Ilse Korrin found?")]}, CONFIG)
    assert state["chosen"][0]["name"] == "astronomy"
    assert state["answer"] == ASTRONOMY_FACT
    reply = state["messages"][-1]
    assert reply.type == "ai"
    assert reply.content == ASTRONOMY_FACT
    provenance = reply.response_metadata["provenance"]
    assert provenance["specialists"] == ["astronomy"]
    assert provenance["sources"] == ["astronomy:0"]
    assert provenance["packets"] == []
    assert provenance["llm_calls"] == 1


async def test_fans_out_in_parallel_and_composes_with_the_model() -> None:
    composer = ScriptedChat(["1874, by Ilse Korrin"])
    graph = build_dispatcher(await team(), embedder=EMBEDDER, chat=composer, fan_out=2)
    state = await graph.ainvoke(
        {"messages": [("user", "orchid Halvia rubra and the Veltmar Observatory")]}, CONFIG
    )
    assert {a["agent"] for a in state["answers"]} == {"botany", "astronomy"}
    assert state["answer"] == "1874, by Ilse Korrin"
    notes = composer.calls[0].last_user_message
    assert BOTANY_FACT in notes
    assert ASTRONOMY_FACT in notes
    assert state["provenance"]["llm_calls"] == 3


async def test_a_thread_keeps_its_conversation_and_answers_reset_per_turn() -> None:
    graph = build_dispatcher(await team(), embedder=EMBEDDER, fan_out=1)
    await graph.ainvoke({"messages": [("user", "Which observatory did Ilse Korrin found?")]}, CONFIG)
    state = await graph.ainvoke({"messages": [("user", "Who described the orchid Halvia rubra?")]}, CONFIG)
    assert [m.type for m in state["messages"]] == ["human", "ai", "human", "ai"]
    assert [a["agent"] for a in state["answers"]] == ["botany"]
    other = await graph.ainvoke(
        {"messages": [("user", "Who described Halvia rubra?")]}, {"configurable": {"thread_id": "t2"}}
    )
    assert len(other["messages"]) == 2


async def test_astream_says_who_was_chosen_and_what_was_used() -> None:
    graph = build_dispatcher(await team(), embedder=EMBEDDER, fan_out=2)
    events = [
        e
        async for e in graph.astream(
            {"messages": [("user", "Halvia rubra observatory")]}, CONFIG, stream_mode="custom"
        )
    ]
    kinds = [e["type"] for e in events]
    assert kinds[0] == EVENT_ROUTE
    assert kinds[-1] == EVENT_FINAL
    assert kinds.count(EVENT_ANSWER) == 2
    assert {c["name"] for c in events[0]["specialists"]} == {"botany", "astronomy"}
    assert events[-1]["provenance"]["specialists"] == [c["name"] for c in events[0]["specialists"]]


def test_invoke_and_stream_work_from_synchronous_code() -> None:
    graph = build_dispatcher(asyncio.run(team()), embedder=EMBEDDER, fan_out=1)
    state = graph.invoke({"messages": [("user", "Which observatory did Ilse Korrin found?")]}, CONFIG)
    assert state["answer"] == ASTRONOMY_FACT
    chunks = list(graph.stream({"messages": [("user", "Halvia rubra")]}, CONFIG, stream_mode="updates"))
    assert [next(iter(c)) for c in chunks] == ["route", "consult", "synthesize", "respond"]


async def test_invoke_inside_an_event_loop_is_a_clear_error() -> None:
    graph = build_dispatcher(await team(), embedder=EMBEDDER)
    with pytest.raises(SwarmError, match="use ainvoke/astream"):
        graph.invoke({"messages": [("user", "Halvia rubra")]}, CONFIG)


async def test_bad_input_and_settings_are_clear_errors() -> None:
    agents = await team()
    graph = build_dispatcher(agents, embedder=EMBEDDER)
    with pytest.raises(SwarmError, match="needs a user message"):
        await graph.ainvoke({"messages": []}, CONFIG)
    with pytest.raises(SwarmError, match="at least one specialist"):
        build_dispatcher([], embedder=EMBEDDER)
    with pytest.raises(ConfigError, match=r"dispatcher.fan_out"):
        build_dispatcher(agents, embedder=EMBEDDER, fan_out=0)
    with pytest.raises(ConfigError, match=r"dispatcher.rerank"):
        build_dispatcher(agents, embedder=EMBEDDER, rerank=True)
    with pytest.raises(SwarmError, match="unique"):
        build_dispatcher([agents[0], agents[0]], embedder=EMBEDDER)


async def test_rerank_lets_the_model_reorder_the_specialists() -> None:
    ranker = ScriptedChat(["botany first, then astronomy"])
    graph = build_dispatcher(await team(), embedder=EMBEDDER, chat=ranker, rerank=True, fan_out=1)
    state = await graph.ainvoke({"messages": [("user", "Which observatory did Ilse Korrin found?")]}, CONFIG)
    assert [c["name"] for c in state["chosen"]] == ["botany"]
    assert state["provenance"]["llm_calls"] == 2  # the re-rank and botany's answer
    ranker.add("astronomy")
    again = await graph.ainvoke({"messages": [("user", "Which observatory did Ilse Korrin found?")]}, CONFIG)
    assert again["provenance"]["llm_calls"] == 2  # counted per turn, not summed over the thread


async def test_a_follow_up_in_a_thread_is_answered_with_the_first_turn() -> None:
    model = ScriptedChat(default=context_of)  # answers with the passages it was given, best first
    agents = await team(model)
    heller = "Tomas Heller founded the Orrin Observatory in 1901."
    await agents[1].learn([heller])
    graph = build_dispatcher(agents, embedder=EMBEDDER, fan_out=1)
    first = await graph.ainvoke({"messages": [("user", "Who described the orchid Halvia rubra?")]}, CONFIG)
    assert first["answer"] == BOTANY_FACT
    state = await graph.ainvoke({"messages": [("user", "And which observatory did she found?")]}, CONFIG)
    assert state["chosen"][0]["name"] == "astronomy"
    assert state["answer"].startswith(ASTRONOMY_FACT)  # Ilse Korrin's observatory ranks first
    prompt = model.calls[-1].messages
    assert [(m.role, m.content) for m in prompt[1:3]] == [
        ("user", "Who described the orchid Halvia rubra?"),
        ("assistant", BOTANY_FACT),
    ]
    fresh: Any = {"configurable": {"thread_id": "t9"}}
    await graph.ainvoke({"messages": [("user", "And which observatory did she found?")]}, fresh)
    assert [m.role for m in model.calls[-1].messages] == ["system", "user"]  # a new thread: no turns


def test_a_follow_up_is_searched_with_what_the_last_answer_named() -> None:
    turn = Turn("Who described the orchid Halvia rubra?", BOTANY_FACT)
    assert follow_up_query("And which observatory did she found?", [turn]) == (
        "Ilse Korrin And which observatory did she found?"
    )
    assert follow_up_query("Where was he born?", [Turn("Who designed it?", "tomas heller")]) == (
        "tomas heller Where was he born?"  # no names to pick: the whole answer goes in front
    )
    assert follow_up_query("Who founded the Veltmar Observatory?", [turn]) == (
        "Who founded the Veltmar Observatory?"  # names its own subject: a new topic
    )
    assert follow_up_query("And where was she born?", []) == "And where was she born?"


def test_turns_are_read_from_langchain_or_openai_roles() -> None:
    messages = [
        ("system", "be brief"),
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("ai", "a2"),
        ("user", "q3"),
    ]
    assert turns_of(messages) == [Turn("q1", "a1"), Turn("q2", "a2")]
    assert turns_of([("human", "q1")]) == []
    assert conversation(turns_of(messages)) == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
    ]


async def test_a_follow_up_survives_a_checkpointer_that_stores_state_as_data(tmp_path: Path) -> None:
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "threads.sqlite")) as saver:
        graph = build_dispatcher(await team(), embedder=EMBEDDER, fan_out=1, checkpointer=saver)
        await graph.ainvoke({"messages": [("user", "Who described the orchid Halvia rubra?")]}, CONFIG)
        state = await graph.ainvoke({"messages": [("user", "And which observatory did she found?")]}, CONFIG)
    assert state["history"] == [["Who described the orchid Halvia rubra?", BOTANY_FACT]]
    assert state["chosen"][0]["name"] == "astronomy"
