"""The same swarm on any OpenAI-compatible server: OpenAI, vLLM, llama.cpp server, Ollama.

Set OPENAI_BASE_URL (and OPENAI_API_KEY, OPENAI_MODEL as your server needs), for example
OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=llama3.2 for Ollama. Embeddings stay local.

Run: OPENAI_BASE_URL=... python examples/openai_backend.py
"""

import asyncio
import os
import sys

from synthswarm import LocalEmbedder, OpenAIChat, Swarm


async def main() -> None:
    if not os.environ.get("OPENAI_BASE_URL"):
        sys.exit("set OPENAI_BASE_URL to an OpenAI-compatible server, e.g. http://localhost:11434/v1")
    chat = OpenAIChat(
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        base_url=os.environ["OPENAI_BASE_URL"],
        api_key=os.environ.get("OPENAI_API_KEY", "unused"),  # local servers often need none
    )
    swarm = Swarm(chat=chat, embedder=LocalEmbedder())
    swarm.add_specialist(
        "architecture",
        "Bridges and their designers.",
        documents=["The Orrin Bridge was designed by Tomas Heller."],
    )
    swarm.add_specialist(
        "music",
        "Symphonies and their premieres.",
        documents=["Tomas Heller's Harbour Symphony premiered in Caldmoor."],
    )
    async with swarm:
        answer = await swarm.ask(
            "In which city did the symphony by the designer of the Orrin Bridge premiere?"
        )
    print(f"{chat.name} at {chat.base_url}: {answer.text}")
    print(
        "used packets from:", answer.provenance["agents_used"], "| LLM calls:", answer.provenance["llm_calls"]
    )
    await chat.aclose()


asyncio.run(main())
