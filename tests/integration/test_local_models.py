"""The embedded SmolLM2 and all-MiniLM-L6-v2, for real (loaded once per session)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from synthswarm.agents.embeddings import LocalEmbedder
from synthswarm.agents.llm import ChatMessage, Extract, GenerationOptions, LocalChat
from synthswarm.swarm.errors import PromptTooLongError

CAPITAL = [ChatMessage.user("What is the capital of France? Answer in one word.")]


async def test_greedy_generation_answers_a_simple_question(local_chat: LocalChat) -> None:
    result = await local_chat.complete(CAPITAL, options=GenerationOptions(max_tokens=16))
    assert "paris" in result.text.lower()
    assert result.usage.prompt_tokens > 10
    assert 0 < result.usage.completion_tokens <= 16


async def test_concurrent_requests_are_batched_and_each_answered(local_chat: LocalChat) -> None:
    before = local_chat.engine.stats.batches
    topics = ["rivers", "bread", "glaciers", "castles", "coral", "printing"]
    options = GenerationOptions(max_tokens=12)
    results = await asyncio.gather(
        local_chat.complete(CAPITAL, options=options),
        *(
            local_chat.complete([ChatMessage.user(f"Name one fact about {t}.")], options=options)
            for t in topics
        ),
    )
    assert "paris" in results[0].text.lower()
    assert all(r.text.strip() for r in results)
    assert all(r.usage.completion_tokens <= 12 for r in results)
    # Seven requests in flight at once took fewer than seven batches.
    assert local_chat.engine.stats.batches - before < len(results)
    assert local_chat.engine.stats.max_batch > 1


async def test_stop_strings_and_token_limit(local_chat: LocalChat) -> None:
    counting = [ChatMessage.user("Count from 1 to 10, separated by commas.")]
    stopped = await local_chat.complete(counting, options=GenerationOptions(max_tokens=40, stop=("5",)))
    assert "5" not in stopped.text
    assert stopped.finish_reason == "stop"
    capped = await local_chat.complete(
        [ChatMessage.user("Write a long story about a dragon.")], options=GenerationOptions(max_tokens=5)
    )
    assert (capped.finish_reason, capped.usage.completion_tokens) == ("length", 5)


async def test_stream_matches_the_final_text(local_chat: LocalChat) -> None:
    chunks = [c async for c in local_chat.stream(CAPITAL, options=GenerationOptions(max_tokens=16))]
    final = chunks[-1].result
    assert final is not None
    assert "".join(c.text for c in chunks) == final.text
    assert len([c for c in chunks if c.text]) > 1


async def test_prompt_longer_than_the_context_is_refused(local_chat: LocalChat) -> None:
    limit = local_chat.engine.context_length
    huge = [ChatMessage.user("word " * (limit + 10))]
    with pytest.raises(PromptTooLongError, match=str(limit)):
        await local_chat.complete(huge, options=GenerationOptions(max_tokens=4))


async def test_extractive_replies_are_only_what_was_allowed(local_chat: LocalChat) -> None:
    text = "Tomas Heller designed the Orrin Bridge. His Harbour Symphony premiered in Caldmoor in 1902."
    ask = [
        ChatMessage.system("Answer with a short phrase taken from the text."),
        ChatMessage.user(f"Text: {text}\nQuestion: In which city did the Harbour Symphony premiere?"),
    ]
    choices = ("Tomas Heller", "Orrin Bridge", "Caldmoor", "1902")
    chosen, spanned, streamed = await asyncio.gather(
        local_chat.complete(ask, options=GenerationOptions(max_tokens=8, extract=Extract(choices=choices))),
        local_chat.complete(ask, options=GenerationOptions(max_tokens=8, extract=Extract(spans_of=(text,)))),
        _streamed(local_chat, ask, GenerationOptions(max_tokens=8, extract=Extract(spans_of=(text,)))),
    )
    assert chosen.text in choices  # a whole choice, scored
    assert chosen.finish_reason == "stop"
    span = spanned.text.strip()
    assert span
    assert span in text  # words of the text, in its order
    assert streamed.strip() == span  # the masked decoder streams what it returns


async def _streamed(chat: LocalChat, messages: list[ChatMessage], options: GenerationOptions) -> str:
    return "".join([chunk.text async for chunk in chat.stream(messages, options=options)])


async def test_real_embeddings_are_normalised_and_meaningful(local_embedder: LocalEmbedder) -> None:
    vectors = await local_embedder.embed(
        [
            "The Rhine carried grain to medieval towns.",
            "River trade fed cities in the Middle Ages.",
            "Bake the cake for forty minutes.",
        ]
    )
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert local_embedder.dims == 384


def test_converted_gguf_cache_gives_the_same_model(tmp_path: Path) -> None:
    from synthswarm.agents.llm import LocalEngine

    prompt = [ChatMessage.user("Name three colours.")]
    options = GenerationOptions(max_tokens=12)
    first = LocalEngine(cache_dir=tmp_path)
    try:
        converted = first.submit(prompt, options).result()
    finally:
        first.close()
    [entry] = list(tmp_path.iterdir())
    assert (entry / "model.safetensors").is_file()
    second = LocalEngine(cache_dir=tmp_path)
    try:
        cached = second.submit(prompt, options).result()
    finally:
        second.close()
    assert cached.text == converted.text
