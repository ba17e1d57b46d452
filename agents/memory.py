"""Per-agent memory: the agent's own knowledge and an inbox of the packets it received.

Both live in a :class:`VectorCollection`, a small protocol with two implementations:
:class:`ChromaCollection` (Chroma ``PersistentClient`` under the swarm's data directory, the default)
and :class:`InMemoryCollection` (numpy, for tests and throw-away swarms). Vectors always come from the
agent's own :class:`~synthswarm.agents.embeddings.Embedder`; Chroma is also given :class:`ChromaEmbedding`,
our
embedding function, because its default one downloads a model and fails offline.

The inbox is bounded: past ``inbox_limit`` packets, expired packets are evicted first, then the packets
received longest ago (first in, first out). Knowledge is never evicted.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.retrieval import titled
from synthswarm.swarm.errors import ConfigError, MemoryStoreError, PacketError
from synthswarm.swarm.packet import OutcomePacket, decode_packet, encode_packet

__all__ = [
    "DEFAULT_INBOX_LIMIT",
    "TITLE",
    "AgentMemory",
    "ChromaCollection",
    "ChromaEmbedding",
    "Document",
    "InMemoryCollection",
    "MemoryHit",
    "Metadata",
    "PacketHit",
    "VectorCollection",
    "check_agent_name",
    "chroma_client",
]

DEFAULT_INBOX_LIMIT = 1000
#: Knowledge metadata flag: the document was published as a finding packet.
SHARED = "shared"
#: Knowledge metadata: the document's title, embedded with its text and searched lexically.
TITLE = "title"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}[a-z0-9]$")

#: One unit-length float32 vector.
Vector = npt.NDArray[np.float32]

#: Chroma metadata values: flat scalars only.
Metadata = Mapping[str, str | int | float | bool]


@dataclass(frozen=True)
class Document:
    """A piece of an agent's own knowledge: text plus where it came from (a source ref, not the source)."""

    text: str
    source: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class MemoryHit:
    id: str
    text: str
    score: float
    """Cosine similarity to the query (1 is identical); 0 for plain gets."""
    metadata: Metadata


@dataclass(frozen=True)
class PacketHit:
    packet: OutcomePacket
    score: float


class VectorCollection(Protocol):
    """A store of texts with unit vectors and flat metadata. Calls are synchronous; callers thread them."""

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: Vector,
        metadatas: Sequence[Metadata],
    ) -> None: ...

    def query(self, vector: Vector, k: int, where: Metadata | None = None) -> list[MemoryHit]: ...

    def get(self, ids: Sequence[str] | None = None, where: Metadata | None = None) -> list[MemoryHit]: ...

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def count(self) -> int: ...

    def vectors(self) -> Vector:
        """Every stored vector, one row each (order unspecified)."""
        ...

    def dump(self) -> tuple[list[MemoryHit], Vector]:
        """Every item and its vector, in the same order."""
        ...


class ChromaEmbedding:
    """A Chroma embedding function over our :class:`~synthswarm.agents.embeddings.Embedder`.

    Memory passes vectors itself; this is what Chroma uses if someone queries a collection by text.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def __call__(self, input: Sequence[str]) -> list[Vector]:
        # Chroma calls this synchronously, possibly from inside an event loop: embed on a private one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            vectors = pool.submit(asyncio.run, self.embedder.embed(list(input))).result()
        return list(vectors)

    def embed_query(self, input: Sequence[str]) -> list[Vector]:
        return self(input)

    @staticmethod
    def name() -> str:
        return "synthswarm"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbedding:
        """What Chroma rebuilds from a stored collection: it cannot embed until given the embedder."""
        return ChromaEmbedding(_MissingEmbedder(str(config.get("embedder", "?"))))

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    def is_legacy(self) -> bool:
        return False


class _MissingEmbedder:
    def __init__(self, name: str) -> None:
        self.name, self.dims = name, 0

    async def embed(self, texts: Sequence[str]) -> Vector:
        raise MemoryStoreError(
            f"this collection was opened without its embedder ({self.name}): open it through AgentMemory"
        )


def chroma_client(path: str | Path) -> Any:
    """A Chroma ``PersistentClient`` at ``path``, telemetry off."""
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError as exc:  # pragma: no cover - chromadb is a dependency
        raise MemoryStoreError("chromadb is not installed: pip install chromadb") from exc
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    except Exception as exc:
        raise MemoryStoreError(f"cannot open the Chroma store at {path}: {exc}") from exc


class ChromaCollection:
    """A :class:`VectorCollection` in a Chroma collection (cosine space)."""

    def __init__(self, client: Any, name: str, embedder: Embedder) -> None:
        try:
            self._collection = client.get_or_create_collection(
                name,
                embedding_function=ChromaEmbedding(embedder),
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": embedder.name, "dims": embedder.dims},
            )
        except Exception as exc:
            raise MemoryStoreError(f"cannot open Chroma collection {name!r}: {exc}") from exc
        stored = (self._collection.metadata or {}).get("dims")
        if stored is not None and stored != embedder.dims:
            raise MemoryStoreError(
                f"collection {name!r} holds {stored}-dim vectors but the embedder makes {embedder.dims}"
            )

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: Vector,
        metadatas: Sequence[Metadata],
    ) -> None:
        if ids:
            self._call(
                self._collection.upsert,
                ids=list(ids),
                documents=list(texts),
                embeddings=[v for v in vectors],
                metadatas=[dict(m) for m in metadatas],
            )

    def query(self, vector: Vector, k: int, where: Metadata | None = None) -> list[MemoryHit]:
        n = min(k, self.count())
        if n <= 0:
            return []
        result = self._call(
            self._collection.query,
            query_embeddings=[vector],
            n_results=n,
            where=_where(where),
            include=["documents", "metadatas", "distances"],
        )
        return [
            MemoryHit(i, d or "", 1.0 - float(dist), m or {})
            for i, d, m, dist in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def get(self, ids: Sequence[str] | None = None, where: Metadata | None = None) -> list[MemoryHit]:
        if ids is not None and not ids:
            return []
        result = self._call(
            self._collection.get,
            ids=list(ids) if ids is not None else None,
            where=_where(where),
            include=["documents", "metadatas"],
        )
        return [
            MemoryHit(i, d or "", 0.0, m or {})
            for i, d, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        ]

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        if ids:
            self._call(self._collection.update, ids=list(ids), metadatas=[dict(m) for m in metadatas])

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call(self._collection.delete, ids=list(ids))

    def count(self) -> int:
        return int(self._call(self._collection.count))

    def vectors(self) -> Vector:
        result = self._call(self._collection.get, include=["embeddings"])
        rows = result["embeddings"]
        return (
            np.asarray(rows, np.float32).reshape(len(rows), -1) if len(rows) else np.zeros((0, 0), np.float32)
        )

    def dump(self) -> tuple[list[MemoryHit], Vector]:
        result = self._call(self._collection.get, include=["documents", "metadatas", "embeddings"])
        hits = [
            MemoryHit(i, d or "", 0.0, m or {})
            for i, d, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        ]
        rows = result["embeddings"]
        vectors = np.asarray(rows, np.float32).reshape(len(rows), -1) if len(rows) else np.zeros((0, 0))
        return hits, vectors.astype(np.float32)

    def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except Exception as exc:
            raise MemoryStoreError(f"Chroma {method.__name__} failed: {exc}") from exc


class InMemoryCollection:
    """A :class:`VectorCollection` in a dict, exact cosine; ``where`` matches metadata by equality."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, Vector, dict[str, Any]]] = {}

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: Vector,
        metadatas: Sequence[Metadata],
    ) -> None:
        for i, text, vector, meta in zip(ids, texts, vectors, metadatas, strict=True):
            self._items[i] = (text, np.asarray(vector, np.float32), dict(meta))

    def query(self, vector: Vector, k: int, where: Metadata | None = None) -> list[MemoryHit]:
        hits = [
            MemoryHit(i, text, float(np.dot(v, vector)), meta)
            for i, (text, v, meta) in self._items.items()
            if _matches(meta, where)
        ]
        return sorted(hits, key=lambda h: -h.score)[:k]

    def get(self, ids: Sequence[str] | None = None, where: Metadata | None = None) -> list[MemoryHit]:
        keys = list(self._items) if ids is None else [i for i in ids if i in self._items]
        return [
            MemoryHit(i, self._items[i][0], 0.0, self._items[i][2])
            for i in keys
            if _matches(self._items[i][2], where)
        ]

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        for i, meta in zip(ids, metadatas, strict=True):
            if i in self._items:
                text, vector, _ = self._items[i]
                self._items[i] = (text, vector, dict(meta))

    def delete(self, ids: Sequence[str]) -> None:
        for i in ids:
            self._items.pop(i, None)

    def count(self) -> int:
        return len(self._items)

    def vectors(self) -> Vector:
        if not self._items:
            return np.zeros((0, 0), np.float32)
        return np.vstack([v for _, v, _ in self._items.values()]).astype(np.float32)

    def dump(self) -> tuple[list[MemoryHit], Vector]:
        hits = [MemoryHit(i, text, 0.0, meta) for i, (text, _, meta) in self._items.items()]
        return hits, self.vectors()


class AgentMemory:
    """One agent's knowledge and inbox. Build it with :meth:`open` (Chroma) or :meth:`in_memory`.

    Every method is async and runs the store's synchronous calls in a worker thread, one at a time, so
    a slow disk never stalls the agent's event loop (and its DHT node's timeouts).
    """

    def __init__(
        self,
        knowledge: VectorCollection,
        inbox: VectorCollection,
        embedder: Embedder,
        *,
        inbox_limit: int = DEFAULT_INBOX_LIMIT,
    ) -> None:
        if inbox_limit < 1:
            raise ConfigError("memory.inbox_limit", f"must be at least 1, got {inbox_limit}")
        self.knowledge = knowledge
        self.inbox = inbox
        self.embedder = embedder
        self.inbox_limit = inbox_limit
        self.evicted = 0
        self._lock = asyncio.Lock()

    @classmethod
    def open(
        cls, data_dir: str | Path, agent: str, embedder: Embedder, *, inbox_limit: int = DEFAULT_INBOX_LIMIT
    ) -> AgentMemory:
        """The memory of ``agent`` in the Chroma store at ``data_dir/chroma`` (created if missing)."""
        check_agent_name(agent)
        client = chroma_client(Path(data_dir) / "chroma")
        return cls(
            ChromaCollection(client, f"{agent}-knowledge", embedder),
            ChromaCollection(client, f"{agent}-inbox", embedder),
            embedder,
            inbox_limit=inbox_limit,
        )

    @classmethod
    def in_memory(cls, embedder: Embedder, *, inbox_limit: int = DEFAULT_INBOX_LIMIT) -> AgentMemory:
        return cls(InMemoryCollection(), InMemoryCollection(), embedder, inbox_limit=inbox_limit)

    async def add_knowledge(self, documents: Sequence[Document]) -> list[str]:
        """Store the ``documents`` not stored yet (ids derive from source and text); returns their ids."""
        known = {h.id for h in await self._run(self.knowledge.get, [_doc_id(d) for d in documents])}
        new = list({_doc_id(d): d for d in documents if _doc_id(d) not in known}.items())
        if not new:
            return []
        vectors = await self.embedder.embed([_embedded_text(d.text, d.metadata) for _, d in new])
        metadatas = [{**d.metadata, "source": d.source, SHARED: False} for _, d in new]
        await self._run(
            self.knowledge.upsert, [i for i, _ in new], [d.text for _, d in new], vectors, metadatas
        )
        return [i for i, _ in new]

    async def unshared_knowledge(self) -> list[MemoryHit]:
        """Documents not yet published as packets (see :meth:`mark_shared`)."""
        hits: list[MemoryHit] = await self._run(self.knowledge.get, None, {SHARED: False})
        return hits

    async def mark_shared(self, hits: Sequence[MemoryHit]) -> None:
        """Remember that these documents were published, so a restarted agent does not send them again."""
        if hits:
            vectors = await self.embedder.embed([_embedded_text(h.text, h.metadata) for h in hits])
            metas = [{**h.metadata, SHARED: True} for h in hits]
            await self._run(
                self.knowledge.upsert, [h.id for h in hits], [h.text for h in hits], vectors, metas
            )

    async def search_knowledge(
        self, query: str | Vector, k: int = 4, where: Metadata | None = None
    ) -> list[MemoryHit]:
        hits: list[MemoryHit] = await self._run(self.knowledge.query, await self._vector(query), k, where)
        return hits

    async def store_packet(self, packet: OutcomePacket, *, now_ms: int | None = None) -> bool:
        """Keep a received packet (False if it was already here), then evict down to the inbox limit."""
        key = packet.id.hex()
        if await self._run(self.inbox.get, [key]):
            return False
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        meta: dict[str, str | int | float | bool] = {
            "origin": packet.origin.hex(),
            "kind": str(packet.kind),
            "topic": packet.topic,
            "depth": packet.depth,
            "received_ms": now,
            "expires_ms": packet.expires_at_ms(),
            "packet": base64.b64encode(encode_packet(packet)).decode(),
        }
        vector = _unit(packet.embedding.to_array())[None, :]
        await self._run(self.inbox.upsert, [key], [packet.finding], vector, [meta])
        await self._evict(now)
        return True

    async def search_inbox(
        self, query: str | Vector, k: int = 4, where: Metadata | None = None
    ) -> list[PacketHit]:
        hits: list[MemoryHit] = await self._run(self.inbox.query, await self._vector(query), k, where)
        return [PacketHit(p, h.score) for h in hits if (p := _packet(h)) is not None]

    async def packets(self, ids: Sequence[bytes]) -> list[OutcomePacket]:
        hits = await self._run(self.inbox.get, [i.hex() for i in ids])
        return [p for h in hits if (p := _packet(h)) is not None]

    async def received(self, kind: str | None = None) -> list[OutcomePacket]:
        """Every packet in the inbox (of ``kind``, when given), oldest first."""
        hits: list[MemoryHit] = await self._run(self.inbox.get, None, {"kind": kind} if kind else None)
        hits.sort(key=lambda h: int(h.metadata.get("received_ms", 0)))
        return [p for h in hits if (p := _packet(h)) is not None]

    async def knowledge_items(self) -> tuple[list[MemoryHit], Vector]:
        """Every document the agent knows and its vector, in the same order."""
        items: tuple[list[MemoryHit], Vector] = await self._run(self.knowledge.dump)
        return items

    async def knowledge_vectors(self) -> Vector:
        """The vectors of every document the agent knows, one row each."""
        vectors: Vector = await self._run(self.knowledge.vectors)
        return vectors

    async def counts(self) -> tuple[int, int]:
        """(knowledge documents, inbox packets)."""
        return await self._run(self.knowledge.count), await self._run(self.inbox.count)

    async def _evict(self, now_ms: int) -> None:
        count = await self._run(self.inbox.count)
        if count <= self.inbox_limit:
            return
        items = await self._run(self.inbox.get, None, None)
        expired = [h.id for h in items if int(h.metadata.get("expires_ms", 0)) <= now_ms]
        live = sorted(
            (h for h in items if h.id not in set(expired)), key=lambda h: int(h.metadata["received_ms"])
        )
        excess = count - self.inbox_limit
        victims = (expired + [h.id for h in live])[:excess] if len(expired) < excess else expired
        await self._run(self.inbox.delete, victims)
        self.evicted += len(victims)

    async def _vector(self, query: str | Vector) -> Vector:
        if isinstance(query, str):
            return cast(Vector, (await self.embedder.embed([query]))[0])
        return _unit(query)

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(fn, *args)


def check_agent_name(name: str) -> str:
    """Agent names become store names: 2-62 characters of a-z, 0-9, ``-`` and ``_``."""
    if not _NAME.match(name):
        raise ConfigError(
            "agent.name", f"{name!r} is not a valid agent name: use 2-62 characters of a-z, 0-9, '-' and '_'"
        )
    return name


def _embedded_text(text: str, metadata: Metadata) -> str:
    """What a document is embedded as: ``"title: text"`` when its metadata names a title (the bridge
    entity of a multi-hop question is often another passage's title)."""
    return titled(str(metadata.get(TITLE, "")), text)


def _doc_id(document: Document) -> str:
    return hashlib.sha256(f"{document.source}\x00{document.text}".encode()).hexdigest()[:32]


def _unit(vector: npt.ArrayLike) -> Vector:
    v = np.asarray(vector, np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def _packet(hit: MemoryHit) -> OutcomePacket | None:
    """The packet kept with an inbox entry; None if the entry is damaged (it was verified on receipt)."""
    try:
        return decode_packet(base64.b64decode(str(hit.metadata.get("packet", ""))), verify=False)
    except (PacketError, ValueError):
        return None


def _where(where: Metadata | None) -> dict[str, Any] | None:
    """Chroma wants one condition per dict; several equalities become an ``$and``."""
    if not where:
        return None
    if len(where) == 1:
        return dict(where)
    return {"$and": [{k: v} for k, v in where.items()]}


def _matches(meta: Mapping[str, Any], where: Metadata | None) -> bool:
    return all(meta.get(k) == v for k, v in (where or {}).items())
