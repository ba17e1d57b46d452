"""A response cache for eval runs: the same prompt to the same model is generated once.

Strategies often put the same context in front of the model (isolated and oracle agree on easy
questions; dht and broadcast often gather the same passages), and an interrupted sweep should not pay
for answers it already has. :class:`CachedChat` wraps any :class:`~synthswarm.agents.llm.ChatModel` and keeps
each completion in a SQLite file keyed by the model's name, the messages and the generation options,
so worker processes of one sweep share it. Only plain completions are cached; streams pass through.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from pathlib import Path

from synthswarm.agents.llm import (
    ChatChunk,
    ChatMessage,
    ChatModel,
    ChatResult,
    GenerationOptions,
    Usage,
    WrappedChat,
)

__all__ = ["CachedChat"]


class CachedChat(WrappedChat):
    """A :class:`~synthswarm.agents.llm.ChatModel` that answers repeated prompts from ``path`` (SQLite)."""

    def __init__(self, inner: ChatModel, path: Path) -> None:
        super().__init__(inner)
        self.path = path
        self.hits = 0
        self.misses = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, result TEXT NOT NULL)")

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        key = self._key(messages, options)
        cached = await asyncio.to_thread(self._get, key)
        if cached is not None:
            self.hits += 1
            return cached
        result = await self.inner.complete(messages, options=options)
        self.misses += 1
        if not result.tool_calls:
            await asyncio.to_thread(self._put, key, result)
        return result

    def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        return self.inner.stream(messages, options=options)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _key(self, messages: Sequence[ChatMessage], options: GenerationOptions | None) -> str:
        what = [self.inner.name, [asdict(m) for m in messages], asdict(options or GenerationOptions())]
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def _get(self, key: str) -> ChatResult | None:
        with self._connect() as db:
            row = db.execute("SELECT result FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        usage = Usage(data["prompt_tokens"], data["completion_tokens"])
        return ChatResult(data["text"], data["finish_reason"], usage, data["model"])

    def _put(self, key: str, result: ChatResult) -> None:
        data = {
            "text": result.text,
            "finish_reason": result.finish_reason,
            "model": result.model,
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
        }
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO completions VALUES (?, ?)", (key, json.dumps(data)))
