"""A conversation's finished turns: read from the messages before a question, and written back as them."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AnyMessage

from synthswarm.agents.specialist import Turn

__all__ = ["conversation", "turns_in", "turns_of"]


def turns_in(messages: Sequence[AnyMessage]) -> list[Turn]:
    """The finished turns of a thread's LangChain messages."""
    return turns_of([(m.type, str(m.content)) for m in messages])


def turns_of(messages: Sequence[tuple[str, str]]) -> list[Turn]:
    """The finished turns before the last user message, from ``(role, text)`` pairs (roles as
    LangChain or OpenAI name them): each user message with the reply right after it."""
    roles = [("user" if role == "human" else "assistant" if role == "ai" else role) for role, _ in messages]
    last = max((i for i, role in enumerate(roles) if role == "user"), default=0)
    return [
        Turn(messages[i][1], messages[i + 1][1])
        for i in range(last - 1)
        if roles[i] == "user" and roles[i + 1] == "assistant"
    ]


def conversation(turns: Sequence[Turn]) -> list[tuple[str, str]]:
    """``turns`` as dispatcher input messages, to put before a question."""
    return [m for t in turns for m in (("user", t.question), ("assistant", t.answer))]
