"""How our messages, tool calls, token counts and errors map to langchain-core's and back, for
:class:`~synthswarm.agents.llm.LangChainChat`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import openai
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.outputs import ChatGeneration, LLMResult

from synthswarm.agents.llm._types import ChatMessage, FinishReason, ToolCall
from synthswarm.swarm.errors import ModelError, ModelNotFoundError, ModelResponseError, ModelUnavailableError

__all__ = ["UsageCounter", "finish_of", "model_error", "to_langchain", "tool_calls_of"]

_LENGTH_REASONS = frozenset({"length", "max_tokens"})


class UsageCounter(BaseCallbackHandler):
    """Adds up the token counts of the messages a run's chat models produce. (langchain-core's
    ``UsageMetadataCallbackHandler`` skips messages without a ``model_name``, as fakes have.)"""

    run_inline = True  # called on the event loop, in order, rather than in an executor

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                if isinstance(generation, ChatGeneration) and isinstance(generation.message, AIMessage):
                    usage = generation.message.usage_metadata
                    if usage:
                        self.input_tokens += usage["input_tokens"]
                        self.output_tokens += usage["output_tokens"]


def to_langchain(messages: Sequence[ChatMessage]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in messages:
        if m.role == "system":
            out.append(SystemMessage(m.content))
        elif m.role == "user":
            out.append(HumanMessage(m.content))
        elif m.role == "tool":
            out.append(ToolMessage(m.content, tool_call_id=m.tool_call_id or ""))
        else:
            out.append(_assistant(m))
    return out


def _assistant(m: ChatMessage) -> AIMessage:
    """An assistant turn; a call whose arguments are not a JSON object goes back as an invalid call,
    so the model sees what it wrote."""
    calls, invalid = [], []
    for call in m.tool_calls:
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            invalid.append(invalid_tool_call(name=call.name, args=call.arguments, id=call.id, error=exc.msg))
            continue
        if isinstance(arguments, dict):
            calls.append(tool_call(name=call.name, args=arguments, id=call.id))
        else:
            invalid.append(
                invalid_tool_call(name=call.name, args=call.arguments, id=call.id, error="not an object")
            )
    return AIMessage(m.content, tool_calls=calls, invalid_tool_calls=invalid)


def tool_calls_of(message: AIMessage) -> tuple[ToolCall, ...]:
    """The model's calls, valid ones with their arguments as JSON; invalid ones with the text it
    wrote, so the tool reports the bad arguments to it."""
    calls = [
        ToolCall(c.get("id") or f"call_{i}", c["name"], json.dumps(c["args"]))
        for i, c in enumerate(message.tool_calls)
    ]
    calls += [
        ToolCall(c.get("id") or f"call_{len(calls) + i}", c.get("name") or "", c.get("args") or "")
        for i, c in enumerate(message.invalid_tool_calls)
    ]
    return tuple(calls)


def finish_of(meta: Mapping[str, Any]) -> FinishReason:
    """Providers name it differently (OpenAI ``finish_reason``, Anthropic ``stop_reason``, Ollama
    ``done_reason``); only running out of tokens matters to us besides tool calls."""
    reason = meta.get("finish_reason") or meta.get("stop_reason") or meta.get("done_reason")
    return "length" if reason in _LENGTH_REASONS else "stop"


def model_error(name: str, exc: Exception) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError | TimeoutError | ConnectionError):
        return ModelUnavailableError(f"{name}: no answer: {type(exc).__name__}: {exc}")
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        return ModelUnavailableError(f"{name}: still failing after the model's retries: {exc}")
    if isinstance(exc, openai.NotFoundError):
        return ModelNotFoundError(f"{name}: {exc}")
    if isinstance(exc, NotImplementedError):
        return ModelError(f"{name}: not supported by this LangChain model: {exc or 'NotImplementedError'}")
    if isinstance(exc, OutputParserException | openai.APIStatusError):
        return ModelResponseError(f"{name}: {type(exc).__name__}: {exc}")
    return ModelError(f"{name}: the LangChain model failed: {type(exc).__name__}: {exc}")
