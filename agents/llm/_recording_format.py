"""The file :class:`~synthswarm.agents.llm.RecordingChat` writes and
:class:`~synthswarm.agents.llm.ReplayChat` reads (:mod:`synthswarm.agents.llm.recorded` describes it):
the canonical request and its key, and one call as one JSON line."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from synthswarm.agents.llm._types import (
    ChatMessage,
    ChatModel,
    ChatResult,
    GenerationOptions,
    ToolCall,
    Usage,
)

__all__ = [
    "FORMAT_VERSION",
    "RecordedCall",
    "RecordedModel",
    "call_key",
    "canonical_request",
    "decode",
    "encode",
    "last_user_message",
]

FORMAT_VERSION = 1
"""The ``v`` of every line; a line of another version is refused rather than misread."""

_KEY_HEX = 32
"""Hex digits of the SHA-256 kept as the key: 128 bits, short enough to read in a diff."""

_FINISH_REASONS = frozenset({"stop", "length", "tool_calls"})


# -- the request and its key ------------------------------------------------------------------------


def canonical_request(messages: Sequence[ChatMessage], options: GenerationOptions | None) -> dict[str, Any]:
    """The request as plain JSON values: messages, tool specs, and the options that are set."""
    opts = options or GenerationOptions()
    set_options = {
        f.name: _plain(getattr(opts, f.name))
        for f in dataclasses.fields(opts)
        if f.name != "tools" and getattr(opts, f.name) not in (None, ())
    }
    return {
        "messages": [_message(m) for m in messages],
        "tools": [_plain(t) for t in opts.tools],
        "options": set_options,
    }


def call_key(request: Mapping[str, Any]) -> str:
    """The key of a :func:`canonical_request`: a hash of its canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:_KEY_HEX]


def _message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [_plain(c) for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _plain(value: object) -> Any:
    """``value`` as JSON values: dataclasses and mappings as objects, sequences as lists, and a float
    that is a whole number as an int (so ``temperature=0`` and ``0.0`` are the same call)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def last_user_message(request: Mapping[str, Any]) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    return users[-1] if users else ""


# -- one line of the file ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedModel:
    """The model that answered a call, and what it supports (a replay reports the same)."""

    name: str
    tools: bool = False
    structured: bool = False
    extract: bool = False

    @classmethod
    def of(cls, model: ChatModel) -> RecordedModel:
        return cls(model.name, model.supports_tools, model.supports_structured, model.supports_extract)


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One line of a recording: a call's key, the model, the request and the result."""

    key: str
    model: RecordedModel
    request: dict[str, Any]
    result: ChatResult


def encode(call: RecordedCall) -> bytes:
    """``call`` as one line of JSON, newline included."""
    result = call.result
    record = {
        "v": FORMAT_VERSION,
        "key": call.key,
        "model": dataclasses.asdict(call.model),
        "request": call.request,
        "result": {
            "text": result.text,
            "finish_reason": result.finish_reason,
            "tool_calls": [_plain(c) for c in result.tool_calls],
            "model": result.model,
            "usage": {
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
            },
            "latency_s": result.latency_s,
        },
    }
    return (json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n").encode()


def decode(line: str) -> RecordedCall:
    """One line back as a :class:`RecordedCall`; ``ValueError`` (bad JSON included), ``KeyError`` or
    ``TypeError`` for a line that is not one, which the reader reports with its number."""
    record = json.loads(line)
    if record["v"] != FORMAT_VERSION:
        raise ValueError(f"format version {record['v']!r}, this build reads {FORMAT_VERSION}")
    result = _result(record["result"])
    _check_request(record["request"])
    model = record.get("model", {})
    if not isinstance(model, dict):
        raise TypeError("model must be an object")
    return RecordedCall(
        key=_str(record["key"]),
        model=RecordedModel(
            name=str(model.get("name", "replay")),
            tools=bool(model.get("tools")),
            structured=bool(model.get("structured")),
            extract=bool(model.get("extract")),
        ),
        request=record["request"],
        result=result,
    )


def _result(data: Mapping[str, Any]) -> ChatResult:
    """A recorded ``result`` object back as a :class:`ChatResult` (``KeyError``/``TypeError``/``ValueError``
    on a malformed one, which the reader reports with the line number)."""
    if data["finish_reason"] not in _FINISH_REASONS:
        raise ValueError(f"unknown finish_reason {data['finish_reason']!r}")
    usage = data["usage"]
    return ChatResult(
        text=_str(data["text"]),
        finish_reason=data["finish_reason"],
        usage=Usage(int(usage["prompt_tokens"]), int(usage["completion_tokens"])),
        model=_str(data["model"]),
        latency_s=float(data.get("latency_s", 0.0)),
        tool_calls=tuple(
            ToolCall(_str(c["id"]), _str(c["name"]), _str(c["arguments"])) for c in data["tool_calls"]
        ),
    )


def _check_request(request: object) -> None:
    """Raise ``TypeError`` unless ``request`` has the shape :func:`canonical_request` gives (it is read
    when a call is missing, to say how the nearest recorded call differs)."""
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        raise TypeError("request must be an object with a list of messages")
    if not isinstance(request.get("tools"), list) or not isinstance(request.get("options"), dict):
        raise TypeError("request must have a list of tools and an object of options")
    for m in request["messages"]:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise TypeError("each message must be an object with a role and a content string")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r:.40}")
    return value
