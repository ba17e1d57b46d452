"""Ask the embedded model a question, embed the answer, and ship it as a signed outcome packet.

Run: python examples/models_and_packets.py
"""

from __future__ import annotations

import asyncio

from synthswarm import Identity, LocalChat, LocalEmbedder, make_packet
from synthswarm.agents.llm import ChatMessage, GenerationOptions
from synthswarm.swarm.packet import decode_packet, encode_packet


async def main() -> None:
    chat, embedder, me = LocalChat.from_path(), LocalEmbedder(), Identity.generate()
    question = "In one sentence, why did medieval towns grow along rivers?"
    reply = await chat.complete([ChatMessage.user(question)], options=GenerationOptions(max_tokens=48))
    [vector] = await embedder.embed([reply.text])
    packet = make_packet(
        me,
        kind="finding",
        topic="towns and rivers",
        finding=reply.text[:300],
        embedding=vector,
        confidence=0.6,
    )
    wire = encode_packet(packet)
    assert decode_packet(wire) == packet
    print(f"answer: {reply.text}")
    print(f"packet: {len(wire)} bytes, id {packet.id.hex()[:16]}, origin {packet.origin.hex()[:16]}")


if __name__ == "__main__":
    asyncio.run(main())
