"""``synthswarm models check``: load the configured LLM and embedder, use each once, time everything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatMessage, ChatModel, ChatResult, GenerationOptions, LocalChat
from synthswarm.swarm import tasks
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import decode_packet, encode_packet, make_packet

__all__ = ["CHECK_PROMPT", "ModelCheck", "check_models"]

CHECK_PROMPT = "In one sentence: why do rivers matter to cities?"
_SIMILAR = ("Rivers supplied medieval towns with water and trade.", "Towns grew along rivers for commerce.")
_UNRELATED = "The recipe needs two eggs and a cup of flour."


@dataclass(frozen=True)
class ModelCheck:
    """What the check did, with timings."""

    llm_name: str
    llm_load_s: float | None
    prompt: str
    reply: ChatResult
    generate_s: float
    embedder_name: str
    embedder_load_s: float
    embed_dims: int
    similar_cosine: float
    unrelated_cosine: float
    packet_bytes: int

    @property
    def tokens_per_s(self) -> float:
        return self.reply.usage.completion_tokens / self.generate_s if self.generate_s else 0.0


def check_models(
    chat: ChatModel, embedder: Embedder, progress: Callable[[str], None] = lambda _: None
) -> ModelCheck:
    return tasks.run(_check(chat, embedder, progress))


async def _check(chat: ChatModel, embedder: Embedder, progress: Callable[[str], None]) -> ModelCheck:
    llm_load_s = None
    if isinstance(chat, LocalChat):
        progress(f"loading the LLM {chat.name}")
        t0 = time.perf_counter()
        await asyncio.to_thread(chat.engine.load)
        llm_load_s = time.perf_counter() - t0
    progress(f"generating with {chat.name}")
    t0 = time.perf_counter()
    reply = await chat.complete([ChatMessage.user(CHECK_PROMPT)], options=GenerationOptions(max_tokens=48))
    generate_s = time.perf_counter() - t0
    progress(f"loading the embedder {embedder.name}")
    t0 = time.perf_counter()
    await embedder.embed(["warm-up"])
    embedder_load_s = time.perf_counter() - t0
    progress("embedding")
    vectors = await embedder.embed([*_SIMILAR, _UNRELATED])
    packet = make_packet(
        Identity.generate(),
        kind="finding",
        topic="rivers and cities",
        finding=reply.text[:300] or "(empty reply)",
        embedding=vectors[0],
        evidence=["models-check"],
    )
    data = encode_packet(packet)
    decode_packet(data)
    return ModelCheck(
        llm_name=chat.name,
        llm_load_s=llm_load_s,
        prompt=CHECK_PROMPT,
        reply=reply,
        generate_s=generate_s,
        embedder_name=embedder.name,
        embedder_load_s=embedder_load_s,
        embed_dims=int(vectors.shape[1]),
        similar_cosine=float(np.dot(vectors[0], vectors[1])),
        unrelated_cosine=float(np.dot(vectors[0], vectors[2])),
        packet_bytes=len(data),
    )
