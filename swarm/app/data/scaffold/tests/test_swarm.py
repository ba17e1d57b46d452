"""The swarm of ../swarm.toml answers a question that needs both of its specialists.

Recorded model calls, as VCR does for HTTP: the first run, with no recording, asks the configured
model (the embedded one unless swarm.toml or SYNTHSWARM_LLM__* say otherwise) and records each call
to recordings/swarm.jsonl; every later run replays that file, offline, with no model at all. Commit
the recording; delete it to record again after changing the agents, their files or the question.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from synthswarm import HashingEmbedder, Swarm, SwarmAnswer, load_config
from synthswarm.agents.llm import ChatModel, make_chat_model

PROJECT = Path(__file__).resolve().parents[1]
SWARM_TOML = PROJECT / "swarm.toml"
RECORDING = Path(__file__).resolve().parent / "recordings" / "swarm.jsonl"
QUESTION = "In which year was the observatory of the naturalist who described Halvia rubra founded?"


def chat_model() -> ChatModel:
    """The configured model, recording to RECORDING; or, once RECORDING exists, its replay."""
    llm = dataclasses.replace(load_config(file=SWARM_TOML).llm, recording=str(RECORDING))
    if RECORDING.exists():
        llm = dataclasses.replace(llm, backend="replay")
    return make_chat_model(llm)


async def ask(question: str) -> SwarmAnswer:
    chat = chat_model()
    # Feature-hashing embeddings: deterministic and instant, so the test needs no embedding model.
    swarm = Swarm.from_config_file(SWARM_TOML, chat=chat, embedder=HashingEmbedder())
    try:
        async with swarm:
            answer = await swarm.ask(question)
    finally:
        await chat.aclose()
    return answer


def test_the_swarm_answers_with_findings_of_both_specialists() -> None:
    answer = asyncio.run(ask(QUESTION))
    assert "1874" in answer.text
    asked = answer.provenance["specialists"]  # the specialists the dispatcher asked, and where
    heard_from = [packet["from"] for packet in answer.provenance["packets"]]  # their evidence came from
    assert sorted({*asked, *heard_from}) == ["astronomy", "botany"]
