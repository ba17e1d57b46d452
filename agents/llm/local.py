"""LocalChat: a transformers model in this process, with concurrent requests batched together.

One :class:`LocalEngine` per model file holds the weights and one worker thread. Requests from any
number of agents (and event loops) queue up; the worker takes the first, waits ``batch_wait_ms`` for
others to join, and generates for all of them in one left-padded batch. On 2 CPU cores a batch of 8
produces several times the tokens per second of one request (``synthswarm bench models``).

The parts, each in a private module of its own:

- :mod:`._local_files`: finding and loading the model's files (GGUF or transformers folder), and the
  cache of converted weights;
- :mod:`._local_batching`: the worker thread that gathers queued requests into batches;
- :mod:`._local_decode`: running the model over one group: generation, or scoring fixed choices;
- :mod:`._local_rows`: one request's state, and the ``StoppingCriteria`` that finishes each row on its
  own terms (stop strings, token limits) and streams its text.

This module holds the public face: :class:`LocalEngine` (one model's weights, shared per file) and
:class:`LocalChat`, the :class:`~synthswarm.agents.llm.ChatModel` over it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthswarm.agents._packaged import embedded_llm_gguf
from synthswarm.agents.llm._local_batching import BatchWorker
from synthswarm.agents.llm._local_decode import BatchStats, Decoder, chat_prompt
from synthswarm.agents.llm._local_files import default_cache_dir
from synthswarm.agents.llm._local_files import load_model_files as _load_model_files
from synthswarm.agents.llm._local_rows import DEFAULT_MAX_TOKENS, Request
from synthswarm.agents.llm._tracing import traced_chat
from synthswarm.agents.llm._types import ChatChunk, ChatMessage, ChatResult, GenerationOptions
from synthswarm.swarm.errors import ModelError, ModelNotFoundError

__all__ = ["BatchStats", "LocalChat", "LocalEngine", "default_cache_dir"]

log = logging.getLogger(__name__)

PROVIDER = "transformers"
"""``gen_ai.provider.name`` of its model-call spans: the conventions list hosted providers only, so the
library that runs the model in this process names it."""


class LocalEngine:
    """The weights of one local model and the worker thread that batches requests to it.

    Use :meth:`shared` so every agent in the process reuses one engine per model file; construct one
    directly only when you want a private copy.
    """

    _shared: dict[Path, LocalEngine] = {}  # noqa: RUF012 - the documented process-wide registry
    _shared_lock = threading.Lock()

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        max_batch: int = 8,
        batch_wait_ms: float = 15.0,
        cache_dir: Path | Literal[False] | None = None,
        preloaded: tuple[Any, Any] | None = None,
    ):
        """``cache_dir``: where a GGUF's converted weights are kept (None: :func:`default_cache_dir`;
        False: never cache, convert on every load). ``preloaded``: a (tokenizer, model) pair you loaded
        yourself with transformers; ``model_path`` then only names it."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.model_path = model_path or (Path("preloaded") if preloaded else embedded_llm_gguf())
        if preloaded is None and not self.model_path.exists():
            raise ModelNotFoundError(f"llm.model: no such file or folder: {self.model_path}")
        self.cache_dir = None if cache_dir is False else (cache_dir or default_cache_dir())
        self.stats = BatchStats()
        self.load_s: float | None = 0.0 if preloaded else None
        self._decoder = Decoder(preloaded[0], preloaded[1], self.name, self.stats) if preloaded else None
        self._load_lock = threading.Lock()
        self._worker = BatchWorker(
            self._run_group, max_batch=max_batch, wait_s=batch_wait_ms / 1000, name=f"LocalEngine-{self.name}"
        )
        self._closed = False

    @classmethod
    def shared(
        cls,
        model_path: Path | None = None,
        *,
        max_batch: int = 8,
        batch_wait_ms: float = 15.0,
        cache_dir: Path | Literal[False] | None = None,
    ) -> LocalEngine:
        """The process-wide engine for ``model_path`` (default: the embedded SmolLM2), made on first use."""
        path = (model_path or embedded_llm_gguf()).resolve()
        with cls._shared_lock:
            engine = cls._shared.get(path)
            if engine is None or engine._closed:
                engine = cls(path, max_batch=max_batch, batch_wait_ms=batch_wait_ms, cache_dir=cache_dir)
                cls._shared[path] = engine
            return engine

    @property
    def name(self) -> str:
        return self.model_path.stem if self.model_path.is_file() else self.model_path.name

    @property
    def max_batch(self) -> int:
        return self._worker.max_batch

    @property
    def batch_wait_s(self) -> float:
        return self._worker.wait_s

    @property
    def context_length(self) -> int:
        return self._loaded().context_length

    def load(self) -> None:
        """Load tokenizer and weights now (otherwise the first request does). Idempotent, thread-safe."""
        self._loaded()

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        decoder = self._loaded()
        return len(decoder.tokenizer(chat_prompt(decoder.tokenizer, messages))["input_ids"])

    def submit(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        on_text: Callable[[str], None] | None = None,
    ) -> concurrent.futures.Future[ChatResult]:
        """Queue one request; the future resolves to its result (or the error that stopped it)."""
        if self._closed:
            raise ModelError("this LocalEngine has been closed")
        future: concurrent.futures.Future[ChatResult] = concurrent.futures.Future()
        self._worker.put(Request(list(messages), options, future, on_text))
        return future

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._closed = True
        self._worker.close()

    def _loaded(self) -> Decoder:
        with self._load_lock:
            if self._decoder is None:
                started = time.perf_counter()
                # Looked up in this module when called, so a test that replaces the loader here wins.
                tokenizer, model = _load_model_files(self.model_path, self.cache_dir)
                self._decoder = Decoder(tokenizer, model, self.name, self.stats)
                self.load_s = time.perf_counter() - started
                log.info("loaded %s in %.1fs", self.model_path, self.load_s)
            return self._decoder

    def _run_group(self, group: list[Request]) -> None:
        self._loaded().run(group)


@dataclass
class LocalChat:
    """A :class:`~synthswarm.agents.llm.ChatModel` backed by a (shared) :class:`LocalEngine`.

    ``LocalChat()`` uses the embedded SmolLM2-135M-Instruct; every ``LocalChat`` for the same model
    file shares one engine, so their concurrent requests are generated together.
    """

    engine: LocalEngine = field(default_factory=LocalEngine.shared)
    defaults: GenerationOptions = field(default_factory=GenerationOptions)

    @classmethod
    def from_path(
        cls,
        model_path: str | os.PathLike[str] | None = None,
        *,
        max_batch: int = 8,
        batch_wait_ms: float = 15.0,
        cache_dir: Path | Literal[False] | None = None,
        defaults: GenerationOptions | None = None,
    ) -> LocalChat:
        """A chat over the shared engine of a GGUF file or transformers folder (default: embedded)."""
        path = Path(model_path).expanduser() if model_path else None
        if path is not None and not path.exists():
            raise ModelNotFoundError(f"llm.model: no such file or folder: {path}")
        engine = LocalEngine.shared(
            path, max_batch=max_batch, batch_wait_ms=batch_wait_ms, cache_dir=cache_dir
        )
        return cls(engine, defaults or GenerationOptions())

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def supports_tools(self) -> bool:
        """False: a 135M model does not call functions reliably; agents retrieve for it instead."""
        return False

    @property
    def supports_structured(self) -> bool:
        """False: nothing here constrains a reply to a JSON schema."""
        return False

    @property
    def supports_extract(self) -> bool:
        """True: ``GenerationOptions.extract`` is decoded under a mask
        (:mod:`synthswarm.agents.llm.extract`)."""
        return True

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        merged = self._merge(options)
        with traced_chat(self.name, provider=PROVIDER, options=merged, in_process=True) as finish:
            result = await asyncio.wrap_future(self.engine.submit(messages, merged))
            finish(result)
            return result

    async def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()

        def on_text(text: str) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, text)

        merged = self._merge(options)
        with traced_chat(
            self.name, provider=PROVIDER, options=merged, in_process=True, stream=True
        ) as finish:
            future = self.engine.submit(messages, merged, on_text)
            # The worker calls on_text before it resolves the future, so None arrives after the last text.
            future.add_done_callback(lambda _: loop.call_soon_threadsafe(pieces.put_nowait, None))
            try:
                while (piece := await pieces.get()) is not None:
                    yield ChatChunk(piece)
                result = future.result()  # resolved: None came from its done-callback
                finish(result)
                yield ChatChunk("", result)
            finally:
                future.cancel()  # a consumer that stops early frees the slot, if generation has not begun

    async def aclose(self) -> None:
        """Nothing to release per chat: the shared engine serves other agents until the process ends."""

    def _merge(self, options: GenerationOptions | None) -> GenerationOptions:
        o = options or GenerationOptions()
        if o.json_schema is not None:
            raise ModelError(f"{self.name}: structured output is not supported here (supports_structured)")
        merged = dataclasses.replace(o.over(self.defaults), tools=())  # it calls no functions
        return dataclasses.replace(merged, max_tokens=merged.max_tokens or DEFAULT_MAX_TOKENS)
