"""Quickstart: three specialists, and a question that needs two of them.

Run: python examples/quickstart.py
"""

import asyncio

from synthswarm import LocalChat, LocalEmbedder, Swarm

AGENTS = {  # name: (what it knows about, its documents)
    "botany": ("Plants, orchids and their naturalists.", ["Halvia rubra was described by Ilse Korrin."]),
    "astronomy": ("Observatories and their founders.", ["Ilse Korrin founded Veltmar Observatory in 1874."]),
    "music": ("Composers and premieres.", ["Tomas Heller's Harbour Symphony premiered in Caldmoor."]),
}
QUESTION = "In which year was the observatory of the naturalist who described Halvia rubra founded?"


async def main() -> None:
    swarm = Swarm(chat=LocalChat.from_path(), embedder=LocalEmbedder())  # the embedded models
    for name, (domain, documents) in AGENTS.items():
        swarm.add_specialist(name, domain, documents=documents)
    async with swarm:  # nodes up, agents subscribed to the DHT router, documents shared as packets
        answer = await swarm.ask(QUESTION)
    print(answer.text)
    for packet in answer.provenance["packets"]:  # what reached the answering agent, and from whom
        print(f"  {packet['from']}: {packet['finding']}")


asyncio.run(main())
