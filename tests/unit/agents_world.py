"""A two-topic world for specialist, dispatcher and runtime tests: scripted model, hashing embedder."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.llm import ChatMessage, ScriptedChat
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.routers import Router

EMBEDDER = HashingEmbedder()

BOTANY_FACT = "The orchid Halvia rubra was described by the naturalist Ilse Korrin."
ASTRONOMY_FACT = "Ilse Korrin founded the Veltmar Observatory in 1874."
QUESTION = "In what year did the naturalist who described the orchid Halvia rubra found an observatory?"
BOTANY = ("botany", "Botany: plants, orchids and the naturalists who described them.")
ASTRONOMY = ("astronomy", "Astronomy: observatories, telescopes and the astronomers who founded them.")


def context_of(messages: Sequence[ChatMessage]) -> str:
    """The passages a specialist put in front of the model."""
    user = next(m.content for m in reversed(messages) if m.role == "user")
    return user.removeprefix("Text: ").split("\nQuestion:")[0]


def year_if_both_facts(messages: Sequence[ChatMessage]) -> str:
    """A model that can chain two facts: it answers only when both are in its context."""
    text = context_of(messages)
    return "1874" if "Halvia rubra" in text and "1874" in text else "unknown"


def chat() -> ScriptedChat:
    return ScriptedChat(default=year_if_both_facts)


async def joined_pair(
    make: Callable[[tuple[str, str]], Specialist], router: Router, nodes: Sequence[DHTNode]
) -> tuple[Specialist, Specialist]:
    """A botanist and an astronomer made by ``make``, each knowing its fact and one other, joined to
    ``router`` on the first two ``nodes``."""
    botany, astronomy = make(BOTANY), make(ASTRONOMY)
    await botany.learn([BOTANY_FACT, "Halvia orchids need cool mountain mist."])
    await astronomy.learn([ASTRONOMY_FACT, "The Hollin Telescope was completed in 1861."])
    await botany.join(router, nodes[0])
    await astronomy.join(router, nodes[1])
    return botany, astronomy
