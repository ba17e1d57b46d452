"""Recorded model calls: record a real model's replies once, then replay them offline in tests.

- :class:`RecordingChat` wraps any :class:`~synthswarm.agents.llm.ChatModel` and appends each call it
  passes on (the messages, tool specs and options in; the text, tool calls, finish reason and token
  counts out) to a JSON Lines file.
- :class:`ReplayChat` answers from that file without any model, and raises
  :class:`~synthswarm.swarm.errors.UnrecordedCallError` for a call the file does not hold.

**The file.** One call per line, appended whole with one write, so concurrent calls (and processes)
sharing a file never interleave, and a recording reads and diffs as text::

    {"v": 1, "key": "…", "model": {"name": "…", "tools": false, "structured": false, "extract": true},
     "request": {"messages": [{"role": "user", "content": "…"}], "tools": [], "options": {"max_tokens": 64}},
     "result": {"text": "…", "finish_reason": "stop", "tool_calls": [], "model": "…",
                "usage": {"prompt_tokens": 31, "completion_tokens": 12}, "latency_s": 0.41}}

**The key** is a hash of a canonical encoding of the request: the messages, the tool specs and the
options the caller passed, with unset options left out (so a new option added later does not change
old keys). The model's name is not part of it, so a recording made against one backend replays under
any name. Neither are the backend's own defaults (its configured ``max_tokens``, ``temperature``): a
recording answers for the calls the code made; record again after changing the model or its settings.

**Repeated calls.** A call made several times is recorded each time. Replay serves its replies in the
order they were recorded and then keeps answering with the last, so a sampling model's different
replies come back in turn and a loop that asks once more than was recorded still gets an answer.

**Capabilities.** Agents ask a model for tools, structured output or extraction only where it supports
them, and those requests are part of the key; so the file keeps the recorded model's capabilities and
:class:`ReplayChat` reports those of its first call.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from synthswarm.agents.llm._recording_format import (
    FORMAT_VERSION,
    RecordedCall,
    RecordedModel,
    call_key,
    canonical_request,
    decode,
    encode,
    last_user_message,
)
from synthswarm.agents.llm._tracing import traced_chat
from synthswarm.agents.llm._types import ChatChunk, ChatMessage, ChatModel, ChatResult, GenerationOptions
from synthswarm.agents.llm._wrapping import WrappedChat, word_chunks
from synthswarm.swarm.errors import ModelError, ModelNotFoundError, UnrecordedCallError

__all__ = ["FORMAT_VERSION", "RecordingChat", "ReplayChat", "call_key", "canonical_request"]


class RecordingChat(WrappedChat):
    """A :class:`~synthswarm.agents.llm.ChatModel` that passes every call to ``inner`` and appends the
    call and its reply to the JSON Lines file at ``path`` (created with its folder when first written).

    Streams pass through chunk by chunk; the assembled result is recorded when its last chunk arrives.
    An existing file is appended to: replay serves a call's recorded replies in order.
    """

    def __init__(self, inner: ChatModel, path: str | os.PathLike[str]) -> None:
        super().__init__(inner)
        self.path = Path(path)
        self.recorded = 0
        """Calls appended by this wrapper."""
        self._lock = threading.Lock()
        self._checked_end = False

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        result = await self.inner.complete(messages, options=options)
        await self._record(messages, options, result)
        return result

    async def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        async for chunk in self.inner.stream(messages, options=options):
            if chunk.result is not None:  # recorded before it is yielded: a caller may stop here
                await self._record(messages, options, chunk.result)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _record(
        self, messages: Sequence[ChatMessage], options: GenerationOptions | None, result: ChatResult
    ) -> None:
        request = canonical_request(messages, options)
        call = RecordedCall(call_key(request), RecordedModel.of(self.inner), request, result)
        await asyncio.to_thread(self._append, encode(call))

    def _append(self, line: bytes) -> None:
        with self._lock:
            if not self._checked_end:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                line = self._newline_if_cut() + line
                self._checked_end = True
            # One write of the whole line to a file opened for appending: the kernel places it at the
            # end in one piece, so other writers' lines (threads or processes) never cut into it.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            self.recorded += 1

    def _newline_if_cut(self) -> bytes:
        """A newline to end a last line an interrupted writer left unfinished, so the next call is a
        line of its own (the cut one is then reported by :class:`ReplayChat`, with its number)."""
        try:
            with self.path.open("rb") as f:
                if f.seek(0, os.SEEK_END) == 0:
                    return b""
                f.seek(-1, os.SEEK_END)
                return b"" if f.read(1) == b"\n" else b"\n"
        except FileNotFoundError:
            return b""


# -- replaying --------------------------------------------------------------------------------------


class ReplayChat:
    """A :class:`~synthswarm.agents.llm.ChatModel` that answers from a file :class:`RecordingChat` wrote,
    offline. ``name`` defaults to the recorded model's name; the capabilities are the recorded model's.

    A call the file does not hold raises :class:`~synthswarm.swarm.errors.UnrecordedCallError`; a missing
    file :class:`~synthswarm.swarm.errors.ModelNotFoundError`; a line that is not a recorded call
    :class:`~synthswarm.swarm.errors.ModelError` naming the file and line.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.path = Path(path)
        self._replies: dict[str, list[ChatResult]] = {}
        self._requests: dict[str, dict[str, Any]] = {}
        self._served: dict[str, int] = {}
        self._model = RecordedModel("replay")
        self._load()
        self._name = name or self._model.name

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        return self._model.tools

    @property
    def supports_structured(self) -> bool:
        return self._model.structured

    @property
    def supports_extract(self) -> bool:
        return self._model.extract

    @property
    def calls(self) -> int:
        """Distinct calls the file holds."""
        return len(self._replies)

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        opts = options or GenerationOptions()
        with traced_chat(self._name, provider="replay", options=opts, in_process=True) as finish:
            result = self._reply(canonical_request(messages, options))
            finish(result)
            return result

    async def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        for chunk in word_chunks(await self.complete(messages, options=options)):
            yield chunk

    async def aclose(self) -> None:
        """Nothing to release: the file was read whole when the model was made."""

    def _reply(self, request: dict[str, Any]) -> ChatResult:
        key = call_key(request)
        replies = self._replies.get(key)
        if not replies:
            raise UnrecordedCallError(self._unrecorded(request, key))
        served = self._served.get(key, 0)
        self._served[key] = served + 1
        return replies[min(served, len(replies) - 1)]

    def _unrecorded(self, request: dict[str, Any], key: str) -> str:
        asked = last_user_message(request)
        message = (
            f"{self.path} holds no reply for this call (key {key[:12]}, last user message "
            f"{asked[:60]!r}{'…' if len(asked) > 60 else ''}). Record it: run once with "
            f"RecordingChat(model, {str(self.path)!r}), or with `--set llm.recording={self.path}` and a "
            f"real backend, then replay again."
        )
        near = next((r for r in self._requests.values() if last_user_message(r) == asked), None)
        differs = [part for part in ("messages", "tools", "options") if near and near[part] != request[part]]
        if differs:
            message += f" A recorded call asks the same but differs in its {' and '.join(differs)}."
        return message

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelNotFoundError(
                f"no recording at {self.path}: record one with RecordingChat or --set llm.recording"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read the recording {self.path}: {exc}") from exc
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                self._add(line, number)

    def _add(self, line: str, number: int) -> None:
        try:
            call = decode(line)
        except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            why = f"{type(exc).__name__}: {exc}"
            raise ModelError(
                f"{self.path}, line {number}: not a recorded call ({why:.120}); "
                "delete the line, or record the file again"
            ) from None
        if not self._replies:
            self._model = call.model
        self._replies.setdefault(call.key, []).append(call.result)
        self._requests.setdefault(call.key, call.request)
