"""A swarm's run recorded against the embedded model replays, word for word, where no model can load."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.llm import ChatModel, LocalChat, RecordingChat
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.config import SwarmConfig

AGENTS = {
    "botany": ("Plants, orchids and their naturalists.", ["Halvia rubra was described by Ilse Korrin."]),
    "astronomy": ("Observatories and their founders.", ["Ilse Korrin founded Veltmar Observatory in 1874."]),
}
QUESTIONS = ("Who described Halvia rubra?",)  # one: a call of the embedded model takes seconds here

# Replaying in a fresh interpreter in which transformers and torch cannot be imported: the embedded
# model cannot load there, so every answer must come from the recording.
REPLAY = """
import asyncio, json, sys
sys.modules["transformers"] = sys.modules["torch"] = None
from synthswarm.agents.llm import make_chat_model
from synthswarm.swarm.config import LLMConfig
from tests.integration.test_recorded_local import answers
chat = make_chat_model(LLMConfig(backend="replay", recording=sys.argv[1]))
print(json.dumps(asyncio.run(answers(chat))))
"""


async def answers(chat: ChatModel) -> list[str]:
    """Each question's answer from a small swarm over ``chat`` (feature-hashing embeddings)."""
    swarm = Swarm(chat=chat, embedder=HashingEmbedder(), config=SwarmConfig(entities="capitalised"))
    for name, (domain, documents) in AGENTS.items():
        swarm.add_specialist(name, domain, documents=documents)
    async with swarm:
        return [(await swarm.ask(q)).text for q in QUESTIONS]


async def test_a_recorded_swarm_replays_without_the_model(local_chat: LocalChat, tmp_path: Path) -> None:
    recording = tmp_path / "calls.jsonl"
    recorded = await answers(RecordingChat(local_chat, recording))
    assert all(a.strip() for a in recorded)
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert len(lines) >= len(QUESTIONS)
    assert {line["model"]["name"] for line in lines} == {local_chat.name}

    replay = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", REPLAY, str(recording)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert json.loads(replay.stdout.splitlines()[-1]) == recorded
