"""The Chroma backend of memory: :class:`ChromaCollection`, a
:class:`~synthswarm.agents._memory_store.VectorCollection` in a Chroma collection, the client that opens
the store, and :class:`ChromaEmbedding`, our embedding function (Chroma's default one downloads a model
and fails offline)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthswarm.agents._memory_store import MemoryHit, Metadata, Vector
from synthswarm.agents.embeddings import Embedder
from synthswarm.swarm.errors import MemoryStoreError

__all__ = ["ChromaCollection", "ChromaEmbedding", "chroma_client"]


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


def _where(where: Metadata | None) -> dict[str, Any] | None:
    """Chroma wants one condition per dict; several equalities become an ``$and``."""
    if not where:
        return None
    if len(where) == 1:
        return dict(where)
    return {"$and": [{k: v} for k, v in where.items()]}
