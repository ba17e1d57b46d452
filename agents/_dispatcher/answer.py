"""The ``synthesize`` and ``respond`` nodes: the specialists' answers made one (a chat model composes
them when more than one answered, else the single answer is the answer), then the reply: an AI message
whose ``response_metadata["provenance"]`` names the specialists asked, the packets used and the agents
that sent them, and the routing cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage

from synthswarm.agents._dispatcher.events import EVENT_FINAL
from synthswarm.agents._dispatcher.state import DispatcherState
from synthswarm.agents._dispatcher.step import Step
from synthswarm.agents.llm import ChatMessage, ChatModel, GenerationOptions
from synthswarm.swarm.errors import ModelError, SpecialistsFailedError

__all__ = ["Synthesize", "respond"]


@dataclass(frozen=True)
class Synthesize:
    """The ``synthesize`` node: ``chat`` composes several answers (without it they are joined). When
    every specialist asked failed, it raises :class:`~synthswarm.swarm.errors.SpecialistsFailedError`."""

    chat: ChatModel | None

    async def __call__(self, state: DispatcherState, step: Step) -> dict[str, Any]:
        order = {c["name"]: i for i, c in enumerate(state["chosen"])}
        answers = sorted((a for a in state.get("answers", []) if a["text"]), key=lambda a: order[a["agent"]])
        calls = state.get("dispatcher_llm_calls", 0)
        failed = [a for a in state.get("answers", []) if "failed" in a]
        if failed and len(failed) == len(state.get("answers", [])):
            why = "; ".join(f"{a['agent']}: {a['failed']['error']}" for a in failed)
            raise SpecialistsFailedError(f"every specialist asked failed ({why})")
        if not answers:
            text = "No specialist found an answer."
        elif len(answers) == 1:
            text = answers[0]["text"]
        else:
            text = await self._compose(state["question"], answers)
            calls += self.chat is not None
        if note := _denial_note(state.get("answers", [])):
            text = f"{text}\n\n{note}"
        return {"answer": text, "dispatcher_llm_calls": calls}

    async def _compose(self, question: str, answers: list[dict[str, Any]]) -> str:
        if self.chat is None:
            return "; ".join(dict.fromkeys(a["text"] for a in answers))
        notes = "\n".join(f"- {a['agent']}: {a['text']}" for a in answers)
        messages = [
            ChatMessage.system("Several specialists answered. Give the one best answer in a few words."),
            ChatMessage.user(f"Question: {question}\nSpecialists:\n{notes}"),
        ]
        try:
            result = await self.chat.complete(
                messages, options=GenerationOptions(max_tokens=48, temperature=0.0)
            )
        except ModelError:
            return str(answers[0]["text"])
        return result.text.strip().splitlines()[0] if result.text.strip() else str(answers[0]["text"])


def _denial_note(answers: Sequence[dict[str, Any]]) -> str:
    """A line for the answer naming each step a person denied, so none is dropped silently."""
    steps = [
        f"{d['agent']} running {d['tool']}" if d["tool"] else f"asking {d['agent']}"
        for a in answers
        for d in a.get("denied", [])
    ]
    return f"(Not done, approval denied: {'; '.join(steps)}.)" if steps else ""


async def respond(state: DispatcherState, step: Step) -> dict[str, Any]:
    """The ``respond`` node: the answer as an AI message with its provenance, streamed as the final event."""
    answers = state.get("answers", [])
    packets = {p["id"]: p for a in answers for p in a["packets"]}
    specialists = [c["name"] for c in state["chosen"]]
    provenance = {
        "specialists": specialists,
        "packets": list(packets.values()),
        # other agents whose packets the answers used (a specialist's own syntheses are its own)
        "agents_used": sorted({p["from"] for p in packets.values()} - set(specialists)),
        "sources": sorted({s for a in answers for s in a["sources"]}),
        "cited": list(dict.fromkeys(c for a in answers for c in a.get("cited", []))),
        "messages": sum(a["messages"] for a in answers) + state.get("route_messages", 0),
        "llm_calls": sum(a["llm_calls"] for a in answers) + state.get("dispatcher_llm_calls", 0),
        "failed": [{"agent": a["agent"], **a["failed"]} for a in answers if "failed" in a],
        "denied": [d for a in answers for d in a.get("denied", [])],
    }
    step.emit({"type": EVENT_FINAL, "answer": state["answer"], "provenance": provenance})
    message = AIMessage(content=state["answer"], response_metadata={"provenance": provenance})
    return {"messages": [message], "provenance": provenance}
