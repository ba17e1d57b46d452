"""Making a specialist with a swarm's models: its memory and key kept under ``data_dir`` when there is one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.memory import AgentMemory, Document, check_agent_name
from synthswarm.agents.specialist import Specialist, SpecialistSettings
from synthswarm.agents.synthesis import SynthesisSettings
from synthswarm.swarm.identity import Identity
from synthswarm.tools import AnyTool

__all__ = ["documents_of", "identity_of", "make_specialist", "memory_of"]


def make_specialist(
    name: str,
    domain: str,
    *,
    chat: ChatModel,
    embedder: Embedder,
    data_dir: Path | None,
    inbox_limit: int,
    instructions: str,
    tools: Sequence[AnyTool],
    settings: SpecialistSettings,
    synthesis: SynthesisSettings,
    needs_approval: bool,
) -> Specialist:
    """A specialist with its own memory and identity (see :func:`memory_of`, :func:`identity_of`).
    ``synthesis``: its synthesis bounds and entity source, one object for every specialist of a swarm,
    so that their entity cache (and spaCy's pipeline) is loaded once."""
    check_agent_name(name)
    memory = memory_of(data_dir, name, embedder, inbox_limit=inbox_limit)
    return Specialist(
        name,
        domain,
        chat=chat,
        embedder=embedder,
        memory=memory,
        identity=identity_of(data_dir, name),
        instructions=instructions,
        tools=tools,
        settings=settings,
        synthesis=synthesis,
        needs_approval=needs_approval,
    )


def memory_of(data_dir: Path | None, name: str, embedder: Embedder, *, inbox_limit: int) -> AgentMemory:
    """The agent's memory: in Chroma under ``data_dir`` (kept across restarts), else in this process."""
    if data_dir is not None:
        return AgentMemory.open(data_dir, name, embedder, inbox_limit=inbox_limit)
    return AgentMemory.in_memory(embedder, inbox_limit=inbox_limit)


def identity_of(data_dir: Path | None, name: str) -> Identity:
    """The agent's key: the one under ``data_dir/keys`` (made and saved the first time), else a new one."""
    if data_dir is None:
        return Identity.generate()
    path = data_dir / "keys" / f"{name}.key"
    if path.exists():
        return Identity.load(path)
    identity = Identity.generate()
    identity.save(path)
    return identity


def documents_of(name: str, documents: Sequence[str | Document]) -> list[Document]:
    """Texts as documents with ids ``name:i``; documents as they are."""
    return [d if isinstance(d, Document) else Document(d, f"{name}:{i}") for i, d in enumerate(documents)]
