"""LangChainChat: any langchain-core chat model (``BaseChatModel``) as a
:class:`~synthswarm.agents.llm.ChatModel`.

What maps to what (the conversions are in :mod:`synthswarm.agents.llm._langchain_convert`):

- messages: ours become ``SystemMessage``/``HumanMessage``/``AIMessage``/``ToolMessage``, tool calls
  included both ways (an assistant turn's calls as ``AIMessage.tool_calls``, the model's calls back
  as our :class:`ToolCall` with its arguments as JSON text);
- ``GenerationOptions.tools`` go through the model's ``bind_tools``; ``json_schema`` through its
  ``with_structured_output``; ``max_tokens``, ``temperature``, ``top_p``, ``seed`` and ``stop`` are
  passed as call keyword arguments, which chat models hand to their provider;
- ``usage_metadata`` becomes :class:`Usage` (0 and 0 when the model reports none);
- every failure of the model is a :class:`~synthswarm.swarm.errors.ModelError`, and options the model cannot
  honour (tools without ``bind_tools``, extraction) are refused with one rather than ignored.

Batching. A ``BaseChatModel`` batches only if its class implements ``abatch`` itself: the default
(``Runnable.abatch``, which ``ChatOpenAI`` and most providers keep) runs one ``ainvoke`` per input
concurrently, which is what concurrent ``complete`` calls already do, so collecting them for it
would only add the wait. A class that does implement it (a local pipeline that generates many
prompts at once, a provider's batch endpoint) gets the collection :class:`~synthswarm.agents.llm.LocalEngine`
does for the embedded model: the first ``complete`` waits ``batch_wait_ms`` for others made with the
same options, and all of them (up to ``max_batch``) go in one ``abatch`` call. ``batch=True`` or
``False`` overrides the detection. Streams and structured calls are never collected: a stream is
one conversation as it is produced, and a structured runnable does not pass call options to its
batch.

The wrapped model belongs to the caller, so :meth:`LangChainChat.aclose` only stops this adapter's
own collection tasks; requests still waiting for a batch then fail with a ``ModelError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable

from synthswarm.agents.llm._langchain_convert import (
    UsageCounter,
    finish_of,
    model_error,
    to_langchain,
    tool_calls_of,
)
from synthswarm.agents.llm._tracing import traced_chat
from synthswarm.agents.llm._types import ChatChunk, ChatMessage, ChatResult, GenerationOptions, Usage
from synthswarm.swarm.errors import ConfigError, ModelError, ModelResponseError
from synthswarm.swarm.tasks import TaskSet

__all__ = ["LangChainChat"]

PROVIDER = "langchain"
"""``gen_ai.provider.name`` of its model-call spans (the wrapped model's own provider is not known)."""

_STRUCTURED_TITLE = "reply"


class LangChainChat:
    """A langchain-core ``BaseChatModel`` behind our protocol; see the module docstring for the mapping
    and for when concurrent calls are batched. Use it from one event loop."""

    def __init__(
        self,
        model: BaseChatModel,
        *,
        name: str | None = None,
        batch: bool | None = None,
        batch_wait_ms: float = 10.0,
        max_batch: int = 16,
        defaults: GenerationOptions | None = None,
    ) -> None:
        """``batch``: None detects whether ``model`` batches (its class implements ``abatch``)."""
        if max_batch < 1:
            raise ConfigError("max_batch", f"must be at least 1, got {max_batch}")
        if batch_wait_ms < 0:
            raise ConfigError("batch_wait_ms", f"must not be negative, got {batch_wait_ms}")
        self.model = model
        self._name = name or _model_name(model)
        self.batches = _implements(model, "abatch", Runnable) if batch is None else batch
        self.batch_wait_s = batch_wait_ms / 1000
        self.max_batch = max_batch
        self.defaults = defaults or GenerationOptions()
        self.batch_sizes: list[int] = []
        """The size of every ``abatch`` call made, for tests and benchmarks."""
        self._waiting: dict[str, _Batch] = {}
        self._tasks = TaskSet(f"LangChainChat-{self._name}")
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        """Whether the model implements ``bind_tools`` (``BaseChatModel``'s own raises)."""
        return _implements(self.model, "bind_tools", BaseChatModel)

    @property
    def supports_structured(self) -> bool:
        """Whether ``with_structured_output`` can work: implemented by the model, or built by
        ``BaseChatModel`` on its ``bind_tools``."""
        return self.supports_tools or _implements(self.model, "with_structured_output", BaseChatModel)

    @property
    def supports_extract(self) -> bool:
        """False: LangChain has no way to restrict a reply to spans of given text."""
        return False

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        opts = self._merge(options)
        with traced_chat(self._name, provider=PROVIDER, options=opts, in_process=False) as finish:
            result = await self._complete(messages, opts)
            finish(result)
        return result

    async def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        opts = self._merge(options)
        with traced_chat(
            self._name, provider=PROVIDER, options=opts, in_process=False, stream=True
        ) as finish:
            async for chunk in self._stream(messages, opts):
                if chunk.result is not None:
                    finish(chunk.result)
                yield chunk

    async def _complete(self, messages: Sequence[ChatMessage], opts: GenerationOptions) -> ChatResult:
        started = time.perf_counter()
        if opts.json_schema is not None:
            return await self._structured(messages, opts, started)
        runnable = self._runnable(opts)
        inputs = to_langchain(messages)
        try:
            if self.batches:
                output = await self._submit(_batch_key(opts), runnable, inputs)
            else:
                output = await runnable.ainvoke(inputs)
        except ModelError:
            raise
        except Exception as exc:  # whatever the provider raised: one error family for our callers
            raise model_error(self._name, exc) from exc
        return self._result(output, started)

    async def _stream(
        self, messages: Sequence[ChatMessage], opts: GenerationOptions
    ) -> AsyncIterator[ChatChunk]:
        started = time.perf_counter()
        if opts.json_schema is not None:
            # Structured output arrives as partial objects, not text: send the whole reply as one piece.
            result = await self._structured(messages, opts, started)
            yield ChatChunk(result.text)
            yield ChatChunk("", result)
            return
        merged: AIMessageChunk | None = None
        try:
            async for chunk in self._runnable(opts).astream(to_langchain(messages)):
                if not isinstance(chunk, AIMessageChunk):
                    raise ModelResponseError(f"{self._name}: streamed {type(chunk).__name__}, not a message")
                merged = chunk if merged is None else merged + chunk
                if chunk.text:
                    yield ChatChunk(chunk.text)
        except ModelError:
            raise
        except Exception as exc:
            raise model_error(self._name, exc) from exc
        if merged is None:
            raise ModelResponseError(f"{self._name}: the stream ended without a message")
        yield ChatChunk("", self._result(merged, started))

    async def aclose(self) -> None:
        """Stop collecting batches (waiting requests fail); the wrapped model is the caller's to close."""
        self._closed = True
        self._waiting.clear()
        await self._tasks.close()

    def _merge(self, options: GenerationOptions | None) -> GenerationOptions:
        o = options or GenerationOptions()
        if o.extract is not None:
            raise ModelError(f"{self._name}: extractive decoding is not supported here (supports_extract)")
        return o.over(self.defaults)

    def _runnable(self, opts: GenerationOptions) -> Runnable[Any, Any]:
        """The model with the call's tools bound, then its keyword arguments (bound in this order
        because ``bind_tools`` on a binding would drop the binding's arguments)."""
        runnable: Runnable[Any, Any] = self.model
        if opts.tools:
            if not self.supports_tools:
                raise ModelError(f"{self._name}: this LangChain model has no bind_tools (supports_tools)")
            try:
                runnable = self.model.bind_tools([t.to_openai() for t in opts.tools])
            except Exception as exc:
                raise model_error(self._name, exc) from exc
        kwargs = _call_kwargs(opts)
        return runnable.bind(**kwargs) if kwargs else runnable

    async def _structured(
        self, messages: Sequence[ChatMessage], opts: GenerationOptions, started: float
    ) -> ChatResult:
        if not self.supports_structured:
            raise ModelError(
                f"{self._name}: this LangChain model has no structured output (supports_structured)"
            )
        if opts.tools:
            raise ModelError(f"{self._name}: tools and a json_schema cannot be asked for in one call")
        assert opts.json_schema is not None
        # LangChain tells a JSON schema from other schema kinds by its title.
        schema = {"title": _STRUCTURED_TITLE, **dict(opts.json_schema)}
        usage = UsageCounter()  # the parsed reply drops the message and its usage
        try:
            runnable = self.model.with_structured_output(schema)
            parsed = await runnable.ainvoke(
                to_langchain(messages), config={"callbacks": [usage]}, **_call_kwargs(opts)
            )
        except Exception as exc:
            raise model_error(self._name, exc) from exc
        if not isinstance(parsed, Mapping):
            raise ModelResponseError(f"{self._name}: no structured reply (got {type(parsed).__name__})")
        return ChatResult(
            text=json.dumps(parsed),
            finish_reason="stop",
            usage=Usage(usage.input_tokens, usage.output_tokens),
            model=self._name,
            latency_s=time.perf_counter() - started,
        )

    def _result(self, output: object, started: float) -> ChatResult:
        if not isinstance(output, AIMessage):
            raise ModelResponseError(f"{self._name}: answered {type(output).__name__}, not a message")
        calls = tool_calls_of(output)
        usage = output.usage_metadata
        meta = output.response_metadata
        return ChatResult(
            text=output.text,
            finish_reason="tool_calls" if calls else finish_of(meta),
            usage=Usage(usage["input_tokens"], usage["output_tokens"]) if usage else Usage(0, 0),
            model=str(meta.get("model_name") or meta.get("model") or self._name),
            latency_s=time.perf_counter() - started,
            tool_calls=calls,
        )

    async def _submit(self, key: str, runnable: Runnable[Any, Any], inputs: list[BaseMessage]) -> object:
        """Add one conversation to the batch collecting for ``key`` (starting one if none is) and wait
        for its output."""
        if self._closed:
            raise ModelError(f"{self._name}: this LangChainChat has been closed")
        batch = self._waiting.get(key)
        if batch is None:
            batch = self._waiting[key] = _Batch(runnable)
            self._tasks.spawn(self._collect(key, batch), name="batch")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        batch.inputs.append(inputs)
        batch.futures.append(future)
        if len(batch.inputs) >= self.max_batch:
            del self._waiting[key]  # newcomers start the next batch
            batch.full.set()
        return await future

    async def _collect(self, key: str, batch: _Batch) -> None:
        """Wait out the window (or until the batch is full), then send it as one ``abatch`` call."""
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.full.wait(), self.batch_wait_s)
            if self._waiting.get(key) is batch:
                del self._waiting[key]
            self.batch_sizes.append(len(batch.inputs))
            outputs = await batch.runnable.abatch(batch.inputs, return_exceptions=True)
        except asyncio.CancelledError:
            batch.fail(ModelError(f"{self._name}: closed while the request waited for its batch"))
            raise
        except Exception as exc:  # the whole call failed: every caller gets the error
            batch.fail(exc)
            return
        if len(outputs) != len(batch.futures):
            batch.fail(
                ModelResponseError(
                    f"{self._name}: abatch gave {len(outputs)} outputs for {len(batch.futures)}"
                )
            )
            return
        for future, output in zip(batch.futures, outputs, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(output, BaseException):
                future.set_exception(output)
            else:
                future.set_result(output)


@dataclass
class _Batch:
    """Conversations collected for one ``abatch`` call; all were asked with the same options."""

    runnable: Runnable[Any, Any]
    inputs: list[list[BaseMessage]] = field(default_factory=list)
    futures: list[asyncio.Future[object]] = field(default_factory=list)
    full: asyncio.Event = field(default_factory=asyncio.Event)

    def fail(self, error: BaseException) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(error)


def _implements(model: object, method: str, base: type) -> bool:
    """Whether ``model``'s class has its own ``method`` rather than ``base``'s."""
    return getattr(type(model), method, None) is not getattr(base, method)


def _model_name(model: BaseChatModel) -> str:
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(model._llm_type)


def _call_kwargs(opts: GenerationOptions) -> dict[str, Any]:
    """The options chat models take as call keyword arguments; unset ones are left to the model."""
    kwargs: dict[str, Any] = {
        key: value
        for key, value in (
            ("max_tokens", opts.max_tokens),
            ("temperature", opts.temperature),
            ("top_p", opts.top_p),
            ("seed", opts.seed),
        )
        if value is not None
    }
    if opts.stop:
        kwargs["stop"] = list(opts.stop)
    return kwargs


def _batch_key(opts: GenerationOptions) -> str:
    """Calls may share an ``abatch`` only if they bind the same tools and arguments."""
    return json.dumps([[t.to_openai() for t in opts.tools], _call_kwargs(opts)], sort_keys=True, default=str)
