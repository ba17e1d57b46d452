"""Typed messages, options and results shared by every chat backend, and the ChatModel protocol."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from synthswarm.swarm.errors import ModelError
from synthswarm.tools._spec import ToolSpec  # the schema types live with the tools; re-exported here

__all__ = [
    "ChatChunk",
    "ChatMessage",
    "ChatModel",
    "ChatResult",
    "Extract",
    "FinishReason",
    "GenerationOptions",
    "Role",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for; ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """Calls an assistant turn asked for."""
    tool_call_id: str | None = None
    """For a ``tool`` turn: the call it answers."""

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> ChatMessage:
        return cls("assistant", content, tool_calls)

    @classmethod
    def tool(cls, call_id: str, content: str) -> ChatMessage:
        return cls("tool", content, tool_call_id=call_id)


@dataclass(frozen=True, slots=True)
class Extract:
    """Extractive decoding: the reply may only be text given here, word for word.

    A short factual answer is usually a span of the evidence; a small model told to answer with one
    writes sentences instead, so models that support it (``ChatModel.supports_extract``) are made to
    copy. The reply is one of ``choices`` exactly, or a run of whole words from one of ``spans_of``,
    ending where the model ends it. A local model given only ``choices`` scores each whole (the likeliest
    reply wins); with ``spans_of`` it decodes under a mask (:mod:`synthswarm.agents.llm.extract`)."""

    choices: tuple[str, ...] = ()
    spans_of: tuple[str, ...] = ()
    end_bias: float = 0.0
    """Added to the end-of-reply score wherever a span may end, while decoding under a mask: above 0
    favours shorter spans (a model copying a text would otherwise copy on)."""
    score: Literal["mean", "sum"] = "sum"
    """How ``choices`` are scored: the sum or the mean of their tokens' log probabilities (the sum
    favours short choices, yet measured better; see :mod:`synthswarm.agents.llm._local_decode`)."""

    def __post_init__(self) -> None:
        if not any(c.strip() for c in self.choices) and not any(t.strip() for t in self.spans_of):
            raise ModelError("extract: needs at least one non-empty choice or text to copy from")


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """How to generate. ``None`` fields fall back to the model's configured defaults."""

    max_tokens: int | None = None
    """Most tokens to generate."""
    temperature: float | None = None
    """0 (the default) decodes greedily; above 0 samples."""
    top_p: float | None = None
    """Nucleus sampling mass when sampling."""
    stop: tuple[str, ...] = ()
    """Generation ends before the first of these strings; the string is not returned."""
    seed: int | None = None
    """Seed for sampling, where the backend supports one."""
    tools: tuple[ToolSpec, ...] = ()
    """Functions the model may call instead of answering (backends with ``supports_tools`` only)."""
    json_schema: Mapping[str, Any] | None = None
    """Make the reply one JSON object of this schema (backends with ``supports_structured`` only;
    others raise :class:`~synthswarm.swarm.errors.ModelError`)."""
    extract: Extract | None = None
    """Restrict the reply to given text (backends with ``supports_extract`` only; others raise
    :class:`~synthswarm.swarm.errors.ModelError` rather than ignore it)."""

    def over(self, defaults: GenerationOptions) -> GenerationOptions:
        """These options, with ``defaults`` (a model's configured ones) where a sampling setting is
        unset; what the call asks of the reply (tools, schema, extraction) stays the call's own."""
        d = defaults
        return dataclasses.replace(
            self,
            max_tokens=self.max_tokens or d.max_tokens,
            temperature=self.temperature if self.temperature is not None else d.temperature,
            top_p=self.top_p if self.top_p is not None else d.top_p,
            stop=self.stop or d.stop,
            seed=self.seed if self.seed is not None else d.seed,
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one completion."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished completion."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    model: str
    latency_s: float = 0.0
    tool_calls: tuple[ToolCall, ...] = ()
    """Calls the model asked for; the caller runs them and continues the conversation."""


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """A piece of a streamed completion. The last chunk has ``result`` set and usually empty text."""

    text: str
    result: ChatResult | None = field(default=None)


@runtime_checkable
class ChatModel(Protocol):
    """Anything agents can chat with. Every backend implements exactly this."""

    @property
    def name(self) -> str:
        """The model's name, as reported in results and logs."""
        ...

    @property
    def supports_tools(self) -> bool:
        """Whether ``GenerationOptions.tools`` reach the model (OpenAI function calling)."""
        ...

    @property
    def supports_structured(self) -> bool:
        """Whether ``GenerationOptions.json_schema`` is honoured (structured output)."""
        ...

    @property
    def supports_extract(self) -> bool:
        """Whether ``GenerationOptions.extract`` is honoured (constrained decoding)."""
        ...

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        """Generate one reply to ``messages``."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Generate one reply, yielding text as it is produced; the last chunk carries the result."""
        ...

    async def aclose(self) -> None:
        """Release what the model holds. Shared resources stay up for their other users."""
        ...
