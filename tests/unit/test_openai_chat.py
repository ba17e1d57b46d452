"""OpenAIChat against httpx's in-memory transport: the real openai client, no sockets."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2 as httpx
import openai
import pytest

from synthswarm.agents.llm import ChatMessage, Extract, GenerationOptions, OpenAIChat, make_chat_model
from synthswarm.agents.synthesis import CLAIM_SCHEMA, Claim
from synthswarm.swarm.config import LLMConfig
from synthswarm.swarm.errors import (
    ConfigError,
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
)

Handler = Callable[[httpx.Request], httpx.Response]


def chat_with(handler: Handler, *, max_retries: int = 0) -> tuple[OpenAIChat, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = openai.AsyncOpenAI(
        base_url="http://llm.test/v1",
        api_key="k",
        max_retries=max_retries,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(record)),
    )
    return OpenAIChat(model="m", client=client, max_retries=max_retries), seen


def completion(text: str, finish: str = "stop") -> dict[str, object]:
    return {
        "id": "c1", "object": "chat.completion", "created": 0, "model": "m-2024",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }  # fmt: skip


async def test_complete_sends_options_and_parses_the_answer() -> None:
    chat, seen = chat_with(lambda r: httpx.Response(200, json=completion("Paris", "length")))
    result = await chat.complete(
        [ChatMessage.system("brief"), ChatMessage.user("capital?")],
        options=GenerationOptions(max_tokens=5, temperature=0.0, stop=("\n",)),
    )
    body = json.loads(seen[0].content)
    assert body["messages"] == [
        {"role": "system", "content": "brief"},
        {"role": "user", "content": "capital?"},
    ]
    assert (body["max_tokens"], body["temperature"], body["stop"]) == (5, 0.0, ["\n"])
    assert (result.text, result.finish_reason, result.model) == ("Paris", "length", "m-2024")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (7, 3)


async def test_structured_output_is_sent_as_a_json_schema_and_extraction_is_refused() -> None:
    claim = json.dumps(
        {"claim": "c", "link": "l", "parents": [1, 2], "confidence": 1.0, "contradiction": False}
    )
    chat, seen = chat_with(lambda r: httpx.Response(200, json=completion(claim)))
    assert chat.supports_structured
    result = await chat.complete(
        [ChatMessage.user("facts")], options=GenerationOptions(json_schema=CLAIM_SCHEMA)
    )
    body = json.loads(seen[0].content)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": CLAIM_SCHEMA, "strict": True},
    }
    assert Claim.parse(result.text).parents == (1, 2)
    assert not chat.supports_extract
    with pytest.raises(ModelError, match="extractive decoding is not supported"):
        await chat.complete(
            [ChatMessage.user("q")], options=GenerationOptions(extract=Extract(choices=("a",)))
        )
    assert len(seen) == 1  # refused before anything was sent


async def test_stream_parses_server_sent_events() -> None:
    def sse(request: httpx.Request) -> httpx.Response:
        events = []
        for piece in ["Pa", "ris"]:
            delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            events.append(
                {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [delta]}
            )
        done = {"index": 0, "delta": {}, "finish_reason": "stop"}
        events.append(
            {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [done]}
        )
        events.append({
            "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        })  # fmt: skip
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    chat, seen = chat_with(sse)
    chunks = [c async for c in chat.stream([ChatMessage.user("capital?")])]
    assert [c.text for c in chunks[:-1]] == ["Pa", "ris"]
    final = chunks[-1].result
    assert final is not None
    assert (final.text, final.usage.completion_tokens) == ("Paris", 2)
    assert json.loads(seen[0].content)["stream"] is True


async def test_server_errors_are_retried_then_unavailable() -> None:
    chat, seen = chat_with(lambda r: httpx.Response(503, json={"error": {"message": "busy"}}), max_retries=1)
    with pytest.raises(ModelUnavailableError, match="2 attempt"):
        await chat.complete([ChatMessage.user("q")])
    assert len(seen) == 2


async def test_connection_failure_is_unavailable_with_a_hint() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    chat, seen = chat_with(refuse, max_retries=1)
    with pytest.raises(ModelUnavailableError, match=r"llm.test.*2 attempt.*Is it running"):
        await chat.complete([ChatMessage.user("q")])
    assert len(seen) == 2


async def test_unknown_model_and_bad_request() -> None:
    chat, _ = chat_with(lambda r: httpx.Response(404, json={"error": {"message": "no such model"}}))
    with pytest.raises(ModelNotFoundError, match="'m'"):
        await chat.complete([ChatMessage.user("q")])
    chat, _ = chat_with(lambda r: httpx.Response(400, json={"error": {"message": "bad"}}))
    with pytest.raises(ModelResponseError, match="refused"):
        await chat.complete([ChatMessage.user("q")])


def test_missing_key_and_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"llm\.api_key"):
        OpenAIChat(model="m")
    with pytest.raises(ConfigError, match=r"llm\.api_key"):
        make_chat_model(LLMConfig(backend="openai"))


def test_factory_builds_openai_chat_from_config() -> None:
    chat = make_chat_model(LLMConfig(backend="openai", base_url="http://127.0.0.1:1/v1", model="x"))
    assert isinstance(chat, OpenAIChat)
    assert chat.name == "x"
    assert chat.base_url.startswith("http://127.0.0.1:1/v1")
