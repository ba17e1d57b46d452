"""``synthswarm bench models``: LLM throughput (batch 1 and 8), embedding rate, packet size and speed."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatMessage, ChatModel, GenerationOptions
from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench._report import Target, judge_targets
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import decode_packet, encode_packet, make_packet

__all__ = ["TARGETS", "ModelBenchSettings", "run_models_bench"]

TARGETS: dict[str, Target] = {
    "llm_batch_speedup": (">=", 3.0, "batch-8 aggregate tokens/s over batch-1"),
    "packet_bytes": ("<=", 1536, "bytes of a 384-dim, 300-char packet"),
    "packet_verify_per_s": (">=", 5000, "packets decoded and signature-verified per second"),
}

_TOPICS = [
    "the history of river trade", "how glaciers shape valleys", "the chemistry of bread",
    "early printing presses", "migratory birds", "volcanic islands", "medieval castles",
    "the physics of sailing", "coral reefs", "desert agriculture",
]  # fmt: skip


@dataclass(frozen=True)
class ModelBenchSettings:
    """How much work each measurement does."""

    max_tokens: int = 64
    batch1_requests: int = 3
    batch8_rounds: int = 2
    embed_texts: int = 512
    packets: int = 5000


def run_models_bench(
    chat: ChatModel,
    embedder: Embedder,
    settings: ModelBenchSettings = ModelBenchSettings(),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Measure everything and return the figures (the JSON that ``--json`` writes)."""
    return tasks.run(_run(chat, embedder, settings, progress))


async def _run(
    chat: ChatModel, embedder: Embedder, s: ModelBenchSettings, progress: Callable[[str], None]
) -> dict[str, Any]:
    started = time.perf_counter()
    # Packets first: once torch has run, its idle worker threads still spin for a while and would
    # steal the CPU from this single-threaded measurement.
    progress(f"packets: {s.packets} encodes and verifies")
    packets = _packet_figures(_unit_vector(384), s.packets)
    progress("LLM warm-up (loads the model)")
    await chat.complete([ChatMessage.user("Say hello.")], options=GenerationOptions(max_tokens=4))
    progress(f"LLM batch 1: {s.batch1_requests} requests of {s.max_tokens} tokens")
    batch1 = await _tokens_per_s(chat, [[p] for p in _prompts(s.batch1_requests)], s.max_tokens)
    progress(f"LLM batch 8: {s.batch8_rounds} rounds of 8 concurrent requests")
    rounds = [_prompts(8, offset=r) for r in range(s.batch8_rounds)]
    batch8 = await _tokens_per_s(chat, rounds, s.max_tokens)
    progress(f"embedding {s.embed_texts} texts")
    embeddings_per_s = await _embeddings_per_s(embedder, s.embed_texts)
    figures: dict[str, Any] = {
        "llm_model": chat.name,
        "llm_tokens_per_s_batch1": round(batch1, 2),
        "llm_tokens_per_s_batch8": round(batch8, 2),
        "llm_batch_speedup": round(batch8 / batch1, 2) if batch1 else None,
        "embedder_model": embedder.name,
        "embeddings_per_s": round(embeddings_per_s, 1),
        **packets,
    }
    figures["targets"] = judge_targets(figures, TARGETS)
    figures["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    return figures


def _prompts(n: int, offset: int = 0) -> list[str]:
    return [f"Write a detailed paragraph about {_TOPICS[(i + offset) % len(_TOPICS)]}." for i in range(n)]


async def _tokens_per_s(chat: ChatModel, rounds: list[list[str]], max_tokens: int) -> float:
    """Completion tokens generated per wall-clock second, each round's prompts sent concurrently."""
    options = GenerationOptions(max_tokens=max_tokens)
    tokens, elapsed = 0, 0.0
    for prompts in rounds:
        t0 = time.perf_counter()
        results = await asyncio.gather(
            *(chat.complete([ChatMessage.user(p)], options=options) for p in prompts)
        )
        elapsed += time.perf_counter() - t0
        tokens += sum(r.usage.completion_tokens for r in results)
    return tokens / elapsed if elapsed else 0.0


async def _embeddings_per_s(embedder: Embedder, n: int) -> float:
    texts = [
        f"Paragraph {i}: notes on {_TOPICS[i % len(_TOPICS)]}, with the dates, places and people "
        "that a specialist agent would distill into a finding for the swarm."
        for i in range(n)
    ]
    await embedder.embed(texts[:8])  # warm-up, and the model load for a lazy embedder
    t0 = time.perf_counter()
    await embedder.embed(texts)
    return n / (time.perf_counter() - t0)


def _unit_vector(dims: int) -> np.ndarray[Any, Any]:
    v = np.random.default_rng(0).standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def _packet_figures(vector: np.ndarray[Any, Any], n: int) -> dict[str, Any]:
    identity = Identity.generate()
    finding = ("The Rhine carried most of the region's grain after 1350, according to toll records. " * 4)[
        :300
    ]

    def build() -> Any:
        return make_packet(
            identity,
            kind="finding",
            topic="medieval river trade",
            finding=finding,
            embedding=vector,
            confidence=0.8,
            evidence=["corpus/rhine.txt#p12"],
        )

    packet = build()
    data = encode_packet(packet)
    return {
        "packet_bytes": len(data),
        "packet_embedding_dims": packet.embedding.dims,
        "packet_finding_chars": len(packet.finding),
        "packet_sign_per_s": round(_rate(build, max(1, n // 5)), 1),
        "packet_encode_per_s": round(_rate(lambda: encode_packet(packet), n), 1),
        "packet_verify_per_s": round(_rate(lambda: decode_packet(data), n), 1),
    }


def _rate(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)
