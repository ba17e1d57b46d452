"""LocalEngine's batching, stop strings, token limits and streaming, over a character-level fake model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthswarm.agents.llm import ChatMessage, GenerationOptions, LocalChat, LocalEngine
from synthswarm.swarm.errors import ModelError, PromptTooLongError
from tests.unit.fakes import CharTokenizer, ScriptedCausalLM


@pytest.fixture
def model() -> ScriptedCausalLM:
    return ScriptedCausalLM()


@pytest.fixture
def chat(model: ScriptedCausalLM) -> Iterator[LocalChat]:
    engine = LocalEngine(Path("fake"), preloaded=(CharTokenizer(), model), max_batch=8, batch_wait_ms=50)
    yield LocalChat(engine)
    engine.close()


def say(text: str) -> list[ChatMessage]:
    return [ChatMessage.user(f"say:{text}")]


async def test_reply_ends_at_eos_with_token_counts(chat: LocalChat) -> None:
    result = await chat.complete(say("hello"), options=GenerationOptions(max_tokens=50))
    assert result.text == "hello"
    assert result.finish_reason == "stop"
    assert result.usage.completion_tokens == len("hello") + 1  # the EOS token counts
    assert result.usage.prompt_tokens == len("<user>say:hello<assistant>")


async def test_concurrent_requests_share_one_batch(chat: LocalChat, model: ScriptedCausalLM) -> None:
    words = [f"word{i}" for i in range(6)]
    results = await asyncio.gather(*(chat.complete(say(w)) for w in words))
    assert [r.text for r in results] == words
    assert model.batch_sizes == [6]
    assert chat.engine.stats.max_batch == 6


async def test_batches_are_capped_at_max_batch(model: ScriptedCausalLM) -> None:
    engine = LocalEngine(Path("fake"), preloaded=(CharTokenizer(), model), max_batch=3, batch_wait_ms=50)
    try:
        chat = LocalChat(engine)
        await asyncio.gather(*(chat.complete(say(str(i))) for i in range(7)))
    finally:
        engine.close()
    assert sorted(model.batch_sizes, reverse=True) == [3, 3, 1]


async def test_each_row_stops_on_its_own_terms(chat: LocalChat) -> None:
    stop_early, cut, runaway = await asyncio.gather(
        chat.complete(say("short")),
        chat.complete(say("one. two. three."), options=GenerationOptions(stop=(". t",))),
        chat.complete([ChatMessage.user("no script")], options=GenerationOptions(max_tokens=7)),
    )
    assert (stop_early.text, stop_early.finish_reason) == ("short", "stop")
    assert (cut.text, cut.finish_reason) == ("one", "stop")
    assert (runaway.text, runaway.finish_reason) == ("aaaaaaa", "length")
    assert runaway.usage.completion_tokens == 7


async def test_stream_yields_text_then_result_and_never_a_stop_string(chat: LocalChat) -> None:
    chunks = [c async for c in chat.stream(say("abc STOP def"), options=GenerationOptions(stop=("STOP",)))]
    assert chunks[-1].result is not None
    text = "".join(c.text for c in chunks)
    assert text == chunks[-1].result.text == "abc "
    assert len([c for c in chunks if c.text]) > 1


async def test_prompt_over_the_context_fails_alone(chat: LocalChat) -> None:
    too_long = chat.complete(say("x" * 600))
    fine = chat.complete(say("ok"))
    results = await asyncio.gather(too_long, fine, return_exceptions=True)
    assert isinstance(results[0], PromptTooLongError)
    assert not isinstance(results[1], BaseException)
    assert results[1].text == "ok"


async def test_defaults_apply_when_options_leave_them_out(model: ScriptedCausalLM) -> None:
    engine = LocalEngine(Path("fake"), preloaded=(CharTokenizer(), model))
    try:
        chat = LocalChat(engine, GenerationOptions(max_tokens=3))
        result = await chat.complete([ChatMessage.user("no script")])
    finally:
        engine.close()
    assert result.text == "aaa"


def test_closed_engine_refuses_work(model: ScriptedCausalLM) -> None:
    engine = LocalEngine(Path("fake"), preloaded=(CharTokenizer(), model))
    engine.close()
    with pytest.raises(ModelError, match="closed"):
        engine.submit(say("x"), GenerationOptions())


async def test_structured_output_is_refused_not_ignored(chat: LocalChat) -> None:
    assert not chat.supports_structured
    with pytest.raises(ModelError, match="structured output is not supported"):
        await chat.complete(
            [ChatMessage.user("hi")], options=GenerationOptions(json_schema={"type": "object"})
        )
