"""How an agent's own knowledge is kept: :class:`Document`, its id, its metadata flags, and the text
its vector is made from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from synthswarm.agents._memory_store import Metadata
from synthswarm.agents.retrieval import titled

__all__ = ["SHARED", "TITLE", "Document", "doc_id", "embedded_text"]

#: Knowledge metadata flag: the document was published as a finding packet.
SHARED = "shared"
#: Knowledge metadata: the document's title, embedded with its text and searched lexically.
TITLE = "title"


@dataclass(frozen=True)
class Document:
    """A piece of an agent's own knowledge: text plus where it came from (a source ref, not the source)."""

    text: str
    source: str
    metadata: Metadata = field(default_factory=dict)


def embedded_text(text: str, metadata: Metadata) -> str:
    """What a document is embedded as: ``"title: text"`` when its metadata names a title (the bridge
    entity of a multi-hop question is often another passage's title)."""
    return titled(str(metadata.get(TITLE, "")), text)


def doc_id(document: Document) -> str:
    """Derived from source and text, so the same document added twice is kept once."""
    return hashlib.sha256(f"{document.source}\x00{document.text}".encode()).hexdigest()[:32]
