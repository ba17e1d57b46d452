"""LocalChat: a transformers model in this process, with concurrent requests batched together.

One :class:`LocalEngine` per model file holds the weights and one worker thread. Requests from any
number of agents (and event loops) queue up; the worker takes the first, waits ``batch_wait_ms`` for
others to join, and generates for all of them in one left-padded batch. On 2 CPU cores a batch of 8
produces several times the tokens per second of one request (``synthswarm bench models``).

Per-request stop strings, token limits and streaming are handled by :class:`_RowWatcher`, a
``StoppingCriteria`` that looks at every row after every step: it finishes rows independently and
pushes each row's new text to its stream.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthswarm.agents._packaged import embedded_llm_gguf
from synthswarm.agents.llm._tracing import traced_chat
from synthswarm.agents.llm._types import (
    ChatChunk,
    ChatMessage,
    ChatResult,
    FinishReason,
    GenerationOptions,
    Usage,
)
from synthswarm.agents.llm.extract import REPLY_PREFIX, ExtractiveDecoding, ExtractRule
from synthswarm.swarm.errors import ModelError, ModelNotFoundError, PromptTooLongError

__all__ = ["BatchStats", "LocalChat", "LocalEngine", "default_cache_dir"]

log = logging.getLogger(__name__)

_DEFAULT_MAX_TOKENS = 256
PROVIDER = "transformers"
"""``gen_ai.provider.name`` of its model-call spans: the conventions list hosted providers only, so the
library that runs the model in this process names it."""
_CHOICE_BATCH = 32


@dataclass
class BatchStats:
    """What the engine's worker has done so far."""

    batches: int = 0
    requests: int = 0
    max_batch: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generate_s: float = 0.0


@dataclass
class _Request:
    messages: Sequence[ChatMessage]
    options: GenerationOptions
    future: concurrent.futures.Future[ChatResult]
    on_text: Callable[[str], None] | None = None
    # Filled in by the worker while generating.
    prompt_tokens: int = 0
    text: str = ""
    emitted: int = 0
    done: bool = False
    finish: FinishReason = "length"
    completion_tokens: int = 0

    def sampling_key(self) -> tuple[float, float, int | None]:
        return (self.options.temperature or 0.0, self.options.top_p or 1.0, self.options.seed)


_STOP = object()


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
        self.max_batch = max_batch
        self.cache_dir = None if cache_dir is False else (cache_dir or default_cache_dir())
        self.batch_wait_s = batch_wait_ms / 1000
        self.stats = BatchStats()
        self.load_s: float | None = 0.0 if preloaded else None
        self._tokenizer: Any = preloaded[0] if preloaded else None
        self._model: Any = preloaded[1] if preloaded else None
        self._load_lock = threading.Lock()
        self._queue: queue.Queue[_Request | object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
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
    def context_length(self) -> int:
        self.load()
        return int(getattr(self._model.config, "max_position_embeddings", 2048))

    def load(self) -> None:
        """Load tokenizer and weights now (otherwise the first request does). Idempotent, thread-safe."""
        with self._load_lock:
            if self._model is None:
                started = time.perf_counter()
                self._tokenizer, self._model = _load_model_files(self.model_path, self.cache_dir)
                self.load_s = time.perf_counter() - started
                log.info("loaded %s in %.1fs", self.model_path, self.load_s)

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        self.load()
        return len(self._tokenizer(self._prompt(messages))["input_ids"])

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
        self._queue.put(_Request(list(messages), options, future, on_text))
        self._ensure_worker()
        return future

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._closed = True
        with self._thread_lock:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
                self._thread = None

    def _ensure_worker(self) -> None:
        with self._thread_lock:
            if self._thread is None:
                # A daemon thread, so a process that forgets close() can still exit.
                self._thread = threading.Thread(
                    target=self._work, name=f"LocalEngine-{self.name}", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        while True:
            batch, stop = self._next_batch()
            groups: dict[tuple[float, float, int | None], list[_Request]] = {}
            for request in batch:
                if request.future.set_running_or_notify_cancel():
                    groups.setdefault(request.sampling_key(), []).append(request)
            for group in groups.values():
                self._run_group(group)
            if stop:
                return

    def _next_batch(self) -> tuple[list[_Request], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        assert isinstance(first, _Request)
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Request)
            batch.append(item)
        return batch, False

    def _run_group(self, group: list[_Request]) -> None:
        try:
            self.load()
            scored = [r for r in group if r.options.extract and not r.options.extract.spans_of]
            for request in scored:
                self._choose(request)
            if len(scored) < len(group):
                self._generate([r for r in group if r not in scored])
        except Exception as exc:  # the worker must outlive any one batch; the error goes to its callers
            error = exc if isinstance(exc, ModelError) else ModelError(f"local generation failed: {exc!r}")
            for request in group:
                if not request.future.done():
                    request.future.set_exception(error)
            if not isinstance(exc, ModelError):
                log.exception("local generation failed")

    def _prompt(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> str:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        prompt = str(self._tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False))
        return prompt + REPLY_PREFIX if options is not None and options.extract else prompt

    def _generate(self, group: list[_Request]) -> None:
        import torch

        tok, model = self._tokenizer, self._model
        started = time.perf_counter()
        encoded = tok([self._prompt(r.messages, r.options) for r in group], return_tensors="pt", padding=True)
        width = int(encoded["input_ids"].shape[1])
        max_new = max(r.options.max_tokens or _DEFAULT_MAX_TOKENS for r in group)
        limit = self.context_length
        for request, mask in zip(group, encoded["attention_mask"], strict=True):
            request.prompt_tokens = int(mask.sum())
        too_long = [
            r for r in group if r.prompt_tokens + (r.options.max_tokens or _DEFAULT_MAX_TOKENS) > limit
        ]
        if too_long:
            for r in too_long:
                r.future.set_exception(
                    PromptTooLongError(
                        f"prompt of {r.prompt_tokens} tokens plus max_tokens "
                        f"{r.options.max_tokens or _DEFAULT_MAX_TOKENS} exceeds the context of {limit}"
                    )
                )
            group = [r for r in group if r not in too_long]
            if not group:
                return
            encoded = tok(
                [self._prompt(r.messages, r.options) for r in group], return_tensors="pt", padding=True
            )
            width = int(encoded["input_ids"].shape[1])
        watcher = _RowWatcher(group, width, tok)
        rules = [
            ExtractRule(r.options.extract, tok, watcher.eos_ids) if r.options.extract else None for r in group
        ]
        constrain = [ExtractiveDecoding(rules, width)] if any(rules) else []
        temperature, top_p, seed = group[0].sampling_key()
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
            if seed is not None:
                torch.manual_seed(seed)
        with torch.inference_mode():
            model.generate(
                **encoded,
                max_new_tokens=max_new,
                stopping_criteria=[watcher],
                logits_processor=constrain,
                pad_token_id=tok.pad_token_id,
                **sampling,
            )
        watcher.finish_all()
        elapsed = time.perf_counter() - started
        self._record(group, elapsed)
        for r in group:
            usage = Usage(r.prompt_tokens, r.completion_tokens)
            r.future.set_result(ChatResult(r.text, r.finish, usage, self.name, elapsed))

    def _choose(self, request: _Request) -> None:
        """Answer with the choice the model finds likeliest as its whole reply: the sum of the log
        probabilities of its tokens and of ending after them, each choice scored on one shared pass
        over the prompt (its cache copied per batch of choices)."""
        tok = self._tokenizer
        started = time.perf_counter()
        extract = request.options.extract
        assert extract is not None
        ids = tok(self._prompt(request.messages, request.options), return_tensors="pt")["input_ids"]
        request.prompt_tokens = int(ids.shape[1])
        choices = list(dict.fromkeys(" ".join(c.split()) for c in extract.choices if c.strip()))
        seqs = [tok(" " + c, add_special_tokens=False)["input_ids"] for c in choices]
        longest = max(len(s) for s in seqs) + 1
        if request.prompt_tokens + longest > self.context_length:
            request.future.set_exception(
                PromptTooLongError(
                    f"prompt of {request.prompt_tokens} tokens plus a choice of {longest} exceeds the "
                    f"context of {self.context_length}"
                )
            )
            return
        eos_id = tok.eos_token_id
        end = int(eos_id[0] if isinstance(eos_id, list) else eos_id)
        totals = self._likelihoods(ids, [[*s, end] for s in seqs])
        best = max(range(len(choices)), key=lambda i: (totals[i], -i))
        request.text, request.finish = choices[best], "stop"
        request.completion_tokens = len(seqs[best])
        if request.on_text is not None:
            request.on_text(request.text)
        elapsed = time.perf_counter() - started
        self._record([request], elapsed)
        usage = Usage(request.prompt_tokens, request.completion_tokens)
        request.future.set_result(ChatResult(request.text, "stop", usage, self.name, elapsed))

    def _likelihoods(self, prompt: Any, replies: list[list[int]]) -> list[float]:
        """The log probability of each reply (token ids) right after ``prompt`` (1 x P ids)."""
        import copy

        import torch

        model = self._model
        width_prompt = int(prompt.shape[1])
        totals: list[float] = []
        with torch.inference_mode():
            out = model(input_ids=prompt, use_cache=True)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            for at in range(0, len(replies), _CHOICE_BATCH):
                chunk = replies[at : at + _CHOICE_BATCH]
                width = max(len(s) for s in chunk)
                pad = chunk[0][-1]
                inputs = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width_prompt + width), dtype=torch.long)
                mask[:, :width_prompt] = 1
                for j, s in enumerate(chunk):
                    inputs[j, : len(s)] = torch.tensor(s)
                    mask[j, width_prompt : width_prompt + len(s)] = 1
                cache = copy.deepcopy(out.cache)
                cache.batch_repeat_interleave(len(chunk))
                logits = model(input_ids=inputs, attention_mask=mask, cache=cache).logits
                logp = torch.log_softmax(logits.float(), dim=-1)
                for j, s in enumerate(chunk):
                    totals.append(
                        float(first[s[0]]) + sum(float(logp[j, t - 1, s[t]]) for t in range(1, len(s)))
                    )
        return totals

    def _record(self, group: list[_Request], elapsed: float) -> None:
        s = self.stats
        s.batches += 1
        s.requests += len(group)
        s.max_batch = max(s.max_batch, len(group))
        s.prompt_tokens += sum(r.prompt_tokens for r in group)
        s.completion_tokens += sum(r.completion_tokens for r in group)
        s.generate_s += elapsed


class _RowWatcher:
    """A transformers StoppingCriteria that finishes each row on its own terms and streams its text."""

    def __init__(self, rows: list[_Request], prompt_width: int, tokenizer: Any):
        self.rows = rows
        self.width = prompt_width
        self.tokenizer = tokenizer
        eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.holdback = max((len(s) for r in rows for s in r.options.stop), default=1) - 1

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = []
        for i, row in enumerate(self.rows):
            if not row.done:
                self._advance(row, input_ids[i, self.width :].tolist())
            done.append(row.done)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _advance(self, row: _Request, new_ids: list[int]) -> None:
        ended_by_eos = bool(new_ids) and new_ids[-1] in self.eos_ids
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        row.completion_tokens = len(new_ids)
        cut = min((i for i in (text.find(s) for s in row.options.stop if s) if i >= 0), default=-1)
        if cut >= 0:
            row.text, row.done, row.finish = text[:cut], True, "stop"
        elif ended_by_eos:
            row.text, row.done, row.finish = text, True, "stop"
        else:
            row.text = text
            if len(new_ids) >= (row.options.max_tokens or _DEFAULT_MAX_TOKENS):
                row.done, row.finish = True, "length"
        self._emit(row)

    def _emit(self, row: _Request) -> None:
        if row.on_text is None:
            return
        # Hold back what could still turn into a stop string, and half-decoded UTF-8.
        safe = len(row.text) if row.done else max(row.emitted, len(row.text) - self.holdback)
        while safe > row.emitted and not row.done and row.text[safe - 1] == "\ufffd":
            safe -= 1
        if safe > row.emitted:
            row.on_text(row.text[row.emitted : safe])
            row.emitted = safe

    def finish_all(self) -> None:
        """Rows still open when generate() returned ran out of new tokens."""
        for row in self.rows:
            if not row.done:
                row.done, row.finish = True, "length"
                self._emit(row)


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
        return dataclasses.replace(merged, max_tokens=merged.max_tokens or _DEFAULT_MAX_TOKENS)


def default_cache_dir() -> Path:
    """Where converted GGUF models are kept: ``$XDG_CACHE_HOME/synthswarm/models`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "synthswarm" / "models"


def _load_model_files(path: Path, cache_dir: Path | None) -> tuple[Any, Any]:
    """Load tokenizer and model from a GGUF file or a transformers folder, offline.

    De-quantizing a GGUF takes about 20 s here, loading the same weights as safetensors well under one;
    so the first load of a GGUF saves the converted weights under ``cache_dir`` (keyed by the file's
    name and SHA-256) and later loads read those. The weights are the same either way.
    """
    cached = _cache_entry(path, cache_dir) if path.is_file() and cache_dir else None
    if cached is not None and (cached / "config.json").is_file():
        return _from_pretrained(cached, cached, {})
    folder, extra = (path.parent, {"gguf_file": path.name}) if path.is_file() else (path, {})
    tokenizer, model = _from_pretrained(path, folder, extra)
    if cached is not None:
        _save_converted(tokenizer, model, cached)
    return tokenizer, model


def _from_pretrained(path: Path, folder: Path, extra: dict[str, str]) -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelNotFoundError(
            f"transformers and torch are needed for the local LLM ({exc}); install them with: "
            "pip install torch==2.13.0 && pip install synthswarm"
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **extra)
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, **extra)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load a causal LM from {path}: {exc}") from exc
    model.eval()  # type: ignore[no-untyped-call]
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def _cache_entry(path: Path, cache_dir: Path) -> Path:
    # Keyed by content (about 0.15 s for the 98 MB GGUF), so a reinstalled package reuses the entry.
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return cache_dir / f"{path.stem}-{digest.hexdigest()[:16]}"


def _save_converted(tokenizer: Any, model: Any, target: Path) -> None:
    """Write the de-quantized model as safetensors; a failure only costs the next load its speed."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # transformers refuses to save a model it loaded from GGUF; the weights it holds are plain
        # float32 tensors by now, so drop the GGUF marker and save them as an ordinary checkpoint.
        model.hf_quantizer = None
        model.config.__dict__.pop("quantization_config", None)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        tmp.rename(target)
        log.info("cached the converted model at %s", target)
    except (OSError, ValueError) as exc:
        log.warning("could not cache the converted model at %s: %s", target, exc)
        shutil.rmtree(tmp, ignore_errors=True)
