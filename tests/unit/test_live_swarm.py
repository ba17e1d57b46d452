"""A swarm that changes while it runs: specialists added and removed, steps approved or denied by a
person, and a failing specialist reported while the others answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from langgraph.types import RetryPolicy

from synthswarm.agents.approval import (
    INTERRUPTS,
    KIND_SPECIALIST,
    KIND_TOOL,
    ApprovalRequired,
    Decision,
    pending_of,
    resume_command,
)
from synthswarm.agents.dispatcher import (
    EVENT_ANSWER,
    EVENT_DENIED,
    EVENT_FAILED,
    EVENT_RETRY,
    EVENT_ROUTE,
    build_dispatcher,
)
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist, SpecialistSettings
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.errors import ModelError, SpecialistsFailedError, SwarmError
from synthswarm.tools import tool
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, BOTANY, BOTANY_FACT, EMBEDDER, context_of

ASTRONOMY_QUESTION = "Which observatory did Ilse Korrin found?"
CONFIG: Any = {"configurable": {"thread_id": "t1"}}
QUICK_RETRY = RetryPolicy(initial_interval=0.01, max_attempts=2, jitter=False, retry_on=ModelError)


def swarm_of(*agents: tuple[tuple[str, str], str], approval: str = "") -> Swarm:
    swarm = Swarm(chat=ScriptedChat(default=context_of), embedder=EMBEDDER, config=SwarmConfig(fan_out=1))
    for (name, domain), fact in agents:
        swarm.add_specialist(name, domain, documents=[fact], needs_approval=name == approval)
    return swarm


async def test_a_specialist_added_to_a_running_swarm_joins_and_answers_the_next_question() -> None:
    async with swarm_of((BOTANY, BOTANY_FACT)) as swarm:
        before = await swarm.ask(ASTRONOMY_QUESTION)
        assert before.provenance["specialists"] == ["botany"]
        assert "Veltmar" not in before.text
        events: list[dict[str, Any]] = []
        stop_watching = swarm.watch(events.append)
        astronomy = swarm.add_specialist(*ASTRONOMY, documents=[ASTRONOMY_FACT])
        after = await swarm.ask(ASTRONOMY_QUESTION)  # waits for the joining to finish
        stop_watching()
        assert after.provenance["specialists"] == ["astronomy"]
        assert "Veltmar Observatory" in after.text
        assert astronomy.node in swarm.nodes
        assert len(swarm.nodes) == 2
        # it subscribed and shared its knowledge: botany received its finding over the DHT
        _, inbox = await swarm.specialist("botany").memory.counts()
        assert inbox >= 1
        assert {"from": "astronomy", "to": "botany", "finding": ASTRONOMY_FACT}.items() <= events[0].items()
        with pytest.raises(SwarmError, match="two specialists"):
            swarm.add_specialist(*ASTRONOMY)


async def test_a_removed_specialist_leaves_and_what_it_shared_stays_with_the_others() -> None:
    async with swarm_of((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT)) as swarm:
        astronomy = await swarm.remove_specialist("astronomy")
        assert swarm.names == ["botany"]
        assert astronomy.node is not None
        assert astronomy.node.closed
        assert len(swarm.nodes) == 1
        answer = await swarm.ask(ASTRONOMY_QUESTION)
        assert answer.provenance["specialists"] == ["botany"]
        assert "Veltmar Observatory" in answer.text  # from the finding astronomy published earlier
        assert answer.provenance["agents_used"] == ["astronomy"]  # still named after it left
        with pytest.raises(SwarmError, match="last specialist"):
            await swarm.remove_specialist("botany")


async def collect(
    stream: AsyncIterator[Any],
    events: list[dict[str, Any]],
    react: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> None:
    """Read a dispatcher's custom stream into ``events``, reacting to each as it comes."""
    async for event in stream:
        events.append(event)
        if react is not None:
            await react(event)


async def test_a_question_in_flight_survives_specialists_joining_and_leaving() -> None:
    async with swarm_of((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT)) as swarm:
        events: list[dict[str, Any]] = []

        async def react(event: dict[str, Any]) -> None:
            if event["type"] == EVENT_ROUTE:  # astronomy was chosen and is about to be asked
                swarm.add_specialist("music", "Symphonies.", documents=["It premiered in Caldmoor."])
                await swarm.remove_specialist("astronomy")

        failure: SpecialistsFailedError | None = None
        try:
            await collect(
                swarm.dispatcher.astream(
                    {"messages": [("user", ASTRONOMY_QUESTION)]}, CONFIG, stream_mode="custom"
                ),
                events,
                react,
            )
        except SpecialistsFailedError as exc:
            failure = exc
        if failure is not None:
            # it left before it was asked, and it was the only one chosen: the turn says so
            assert str(failure).startswith("every specialist asked failed (astronomy: ")
            assert [e["agent"] for e in events if e["type"] == EVENT_FAILED] == ["astronomy"]
        else:  # or it answered before it left
            assert events[-1]["provenance"]["specialists"] == ["astronomy"]
            assert "Veltmar" in events[-1]["answer"]
        await swarm.joined()
        assert swarm.names == ["botany", "music"]


async def test_a_specialist_that_needs_approval_waits_and_is_asked_once_approved() -> None:
    async with swarm_of((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT), approval="astronomy") as swarm:
        with pytest.raises(ApprovalRequired) as stopped:
            await swarm.ask(ASTRONOMY_QUESTION, thread_id="a")
        (pending,) = stopped.value.pending
        assert (pending.request.kind, pending.request.agent) == (KIND_SPECIALIST, "astronomy")
        assert await swarm.pending("a") == [pending]
        answer = await swarm.resume("a", True)
        assert "Veltmar Observatory" in answer.text
        assert answer.provenance["denied"] == []
        assert await swarm.pending("a") == []


async def test_a_denied_specialist_is_named_in_the_answer() -> None:
    async with swarm_of((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT), approval="astronomy") as swarm:
        with pytest.raises(ApprovalRequired):
            await swarm.ask(ASTRONOMY_QUESTION, thread_id="d")
        answer = await swarm.resume("d", Decision(False, "not today"))
        assert "Veltmar" not in answer.text
        assert "approval denied: asking astronomy" in answer.text
        assert answer.provenance["denied"] == [
            {"agent": "astronomy", "kind": KIND_SPECIALIST, "tool": "", "reason": "not today"}
        ]
        with pytest.raises(SwarmError, match="nothing waits"):
            await swarm.resume("d", True)


def launcher(calls: list[str]) -> Any:
    @tool(needs_approval=True)
    def launch(target: str) -> str:
        """Launch a probe.

        Args:
            target: where to.
        """
        calls.append(target)
        return f"launched to {target}"

    return launch


async def tool_user(model: ScriptedChat, calls: list[str]) -> Specialist:
    agent = Specialist(
        *ASTRONOMY, chat=model, embedder=EMBEDDER, tools=[launcher(calls)],
        settings=SpecialistSettings(ask_swarm=False, share_answers=False),
    )  # fmt: skip
    await agent.learn([ASTRONOMY_FACT])
    return agent


@pytest.mark.parametrize("approved", [True, False])
async def test_a_tool_that_needs_approval_interrupts_inside_the_tool_loop(approved: bool) -> None:
    call = ScriptedChat.tool_call("launch", {"target": "Veltmar"})
    # The interrupted step runs again from its start on resume, so the model asks for the tool twice.
    model = ScriptedChat([call, call], default=lambda messages: messages[-1].content)
    calls: list[str] = []
    graph = build_dispatcher([await tool_user(model, calls)], embedder=EMBEDDER, fan_out=1)
    state = await graph.ainvoke({"messages": [("user", "Launch a probe to Veltmar")]}, CONFIG)
    (pending,) = pending_of(state[INTERRUPTS])
    assert (pending.request.kind, pending.request.tool) == (KIND_TOOL, "launch")
    assert pending.request.arguments == '{"target": "Veltmar"}'
    assert calls == []  # nothing ran before the decision
    state = await graph.ainvoke(resume_command([pending], approved), CONFIG)
    assert INTERRUPTS not in state
    if approved:
        assert calls == ["Veltmar"]
        assert state["answer"] == "launched to Veltmar"
        assert state["provenance"]["denied"] == []
    else:
        assert calls == []
        assert state["answer"].startswith("error: a person denied running launch")
        assert "approval denied: astronomy running launch" in state["answer"]
        assert state["provenance"]["denied"][0]["tool"] == "launch"


async def test_a_failing_specialist_is_retried_then_reported_while_the_others_answer() -> None:
    broken = ScriptedChat()  # no replies: every call fails with a ModelError
    agents = []
    for (name, domain), fact, model in (
        (BOTANY, BOTANY_FACT, broken),
        (ASTRONOMY, ASTRONOMY_FACT, ScriptedChat(default=context_of)),
    ):
        agent = Specialist(
            name, domain, chat=model, embedder=EMBEDDER,
            settings=SpecialistSettings(ask_swarm=False, share_answers=False),
        )  # fmt: skip
        await agent.learn([fact])
        agents.append(agent)
    graph = build_dispatcher(agents, embedder=EMBEDDER, fan_out=2, retry=QUICK_RETRY)
    events = [
        e
        async for e in graph.astream(
            {"messages": [("user", "orchid Halvia rubra and the Veltmar Observatory")]},
            CONFIG,
            stream_mode="custom",
        )
    ]
    kinds = [(e["type"], e.get("agent")) for e in events]
    assert (EVENT_FAILED, "botany") in kinds
    assert (EVENT_ANSWER, "astronomy") in kinds
    assert (EVENT_RETRY, "botany") in kinds
    assert EVENT_DENIED not in {k for k, _ in kinds}
    assert len(broken.calls) == 2  # the first try and one retry
    final = events[-1]
    assert "Veltmar Observatory" in final["answer"]
    (failed,) = final["provenance"]["failed"]
    assert failed["agent"] == "botany"
    assert failed["attempts"] == 2
    assert "ScriptedChatError" in failed["error"]


async def test_a_failure_the_policy_does_not_retry_is_reported_at_once() -> None:
    broken = ScriptedChat()
    agent = Specialist(*BOTANY, chat=broken, embedder=EMBEDDER, settings=SpecialistSettings(ask_swarm=False))
    await agent.learn([BOTANY_FACT])
    graph = build_dispatcher([agent], embedder=EMBEDDER, retry=None)
    events: list[dict[str, Any]] = []
    stream = graph.astream(
        {"messages": [("user", "Who described Halvia rubra?")]}, CONFIG, stream_mode="custom"
    )
    with pytest.raises(SpecialistsFailedError, match=r"\(botany: ScriptedChatError: "):
        await collect(stream, events)
    assert [(e["agent"], e["attempts"]) for e in events if e["type"] == EVENT_FAILED] == [("botany", 1)]
    assert len(broken.calls) == 1


def test_from_synchronous_code_an_added_specialist_joins_and_its_approval_resumes() -> None:
    swarm = swarm_of((BOTANY, BOTANY_FACT))
    with swarm.background():
        # From another thread than the swarm's loop, add_specialist returns once it has joined.
        swarm.add_specialist(*ASTRONOMY, documents=[ASTRONOMY_FACT], needs_approval=True)
        assert swarm.names == ["botany", "astronomy"]
        state = swarm.dispatcher.invoke({"messages": [("user", ASTRONOMY_QUESTION)]}, CONFIG)
        (pending,) = pending_of(state[INTERRUPTS])  # the interrupt crossed the portal to the loop
        assert pending.request.agent == "astronomy"
        state = swarm.dispatcher.invoke(resume_command([pending], True), CONFIG)
        assert "Veltmar Observatory" in state["answer"]


async def test_concurrent_turns_on_one_thread_take_turns_and_both_are_kept() -> None:
    async with swarm_of((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT)) as swarm:
        await asyncio.gather(
            swarm.ask("Who described Halvia rubra?", thread_id="shared"),
            swarm.ask(ASTRONOMY_QUESTION, thread_id="shared"),
        )
        state = await swarm.dispatcher.aget_state({"configurable": {"thread_id": "shared"}})
        asked = [m.content for m in state.values["messages"] if m.type == "human"]
        assert sorted(asked) == sorted(["Who described Halvia rubra?", ASTRONOMY_QUESTION])
        assert len(state.values["messages"]) == 4  # each question with its answer
