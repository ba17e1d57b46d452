"""OpenAIChat and OpenAIEmbedder over real HTTP to a loopback server, and to a closed port."""

from __future__ import annotations

import socket

import pytest

from synthswarm.agents.embeddings import OpenAIEmbedder
from synthswarm.agents.llm import ChatMessage, GenerationOptions, OpenAIChat, ToolCall
from synthswarm.swarm.errors import ModelUnavailableError
from synthswarm.tools import calculator
from tests.integration.openai_stub import base_url, openai_stub


async def test_complete_and_stream_over_http() -> None:
    with openai_stub() as server:
        chat = OpenAIChat(model="stub", base_url=base_url(server))
        result = await chat.complete([ChatMessage.user("hello there")])
        chunks = [c async for c in chat.stream([ChatMessage.user("streamed words")])]
        await chat.aclose()
    assert result.text == "echo: hello there"
    assert result.model == "stub"
    assert [c.text for c in chunks[:-1]] == ["echo: ", "streamed ", "words "]
    assert chunks[-1].result is not None
    assert chunks[-1].result.text == "echo: streamed words "
    assert server.requests[0][1]["messages"] == [{"role": "user", "content": "hello there"}]


async def test_embeddings_over_http_are_normalised() -> None:
    with openai_stub() as server:
        embedder = OpenAIEmbedder(model="e", dims=3, base_url=base_url(server), batch_size=2)
        vectors = await embedder.embed(["a", "bbb", "cc"])
        await embedder.aclose()
    assert vectors.shape == (3, 3)
    assert [len(body["input"]) for _, body in server.requests] == [2, 1]
    assert abs(float((vectors[1] ** 2).sum()) - 1.0) < 1e-5


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_server_fails_clearly_after_bounded_retries() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    chat = OpenAIChat(model="m", base_url=url, max_retries=2, timeout_s=2)
    with pytest.raises(ModelUnavailableError) as caught:
        await chat.complete([ChatMessage.user("anyone?")])
    await chat.aclose()
    assert "3 attempt(s)" in str(caught.value)
    assert url in str(caught.value)


async def test_function_calling_round_trip_streamed_and_not() -> None:
    spec = calculator.spec
    with openai_stub() as server:
        chat = OpenAIChat(model="m", base_url=base_url(server), api_key="k", max_retries=0)
        ask = [ChatMessage.user('CALL calculator {"expression": "6*7"}')]
        result = await chat.complete(ask, options=GenerationOptions(tools=(spec,)))
        assert result.finish_reason == "tool_calls"
        assert result.tool_calls == (ToolCall("call-7", "calculator", '{"expression": "6*7"}'),)
        chunks = [c async for c in chat.stream(ask, options=GenerationOptions(tools=(spec,)))]
        final = chunks[-1].result
        assert final is not None
        assert final.tool_calls == result.tool_calls  # reassembled from two streamed pieces
        output = await calculator.call(result.tool_calls[0].arguments)
        follow_up = [*ask, ChatMessage.assistant("", result.tool_calls), ChatMessage.tool("call-7", output)]
        answer = await chat.complete(follow_up, options=GenerationOptions(tools=(spec,)))
        assert answer.text == "echo: 42"
        await chat.aclose()
    sent = server.requests[-1][1]
    assert sent["tools"] == [spec.to_openai()]
    assert sent["messages"][1]["tool_calls"][0]["function"] == {
        "name": "calculator",
        "arguments": '{"expression": "6*7"}',
    }
    assert sent["messages"][2] == {"role": "tool", "content": "42", "tool_call_id": "call-7"}
