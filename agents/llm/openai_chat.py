"""OpenAIChat: any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp server, Ollama...)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai

from synthswarm.agents._openai import async_openai_client
from synthswarm.agents.llm._tracing import traced_chat
from synthswarm.agents.llm._types import (
    ChatChunk,
    ChatMessage,
    ChatResult,
    FinishReason,
    GenerationOptions,
    ToolCall,
    Usage,
)
from synthswarm.swarm.errors import (
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
)

__all__ = ["DEFAULT_OPENAI_MODEL", "OpenAIChat"]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
PROVIDER = "openai"
"""``gen_ai.provider.name`` of its model-call spans (the API it speaks; the server may be any)."""


class OpenAIChat:
    """A :class:`~synthswarm.agents.llm.ChatModel` over the ``openai`` package.

    Connection failures, timeouts, 429 and 5xx answers are retried ``max_retries`` times with the
    client's exponential back-off; after that a :class:`~synthswarm.swarm.errors.ModelUnavailableError` names
    the server and the number of attempts.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_OPENAI_MODEL,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        defaults: GenerationOptions | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self._model = model or DEFAULT_OPENAI_MODEL
        self.max_retries = max_retries
        self.defaults = defaults or GenerationOptions()
        self._client = client or async_openai_client(
            section="llm", base_url=base_url, api_key=api_key, timeout_s=timeout_s, max_retries=max_retries
        )

    @property
    def name(self) -> str:
        return self._model

    @property
    def supports_tools(self) -> bool:
        return True

    @property
    def supports_structured(self) -> bool:
        """True: ``json_schema`` is sent as ``response_format`` (a server without it answers an error)."""
        return True

    @property
    def supports_extract(self) -> bool:
        """False: the API has no way to restrict a reply to spans of given text."""
        return False

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        started = time.perf_counter()
        with traced_chat(
            self._model, provider=PROVIDER, options=self._options(options), in_process=False
        ) as finish:
            try:
                response = await self._client.chat.completions.create(
                    **self._request(messages, options), stream=False
                )
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
            if not response.choices:
                raise ModelResponseError(f"{self.base_url} answered with no choices")
            choice = response.choices[0]
            usage = response.usage
            calls = tuple(
                ToolCall(c.id, c.function.name, c.function.arguments or "{}")
                for c in choice.message.tool_calls or ()
                if c.type == "function"
            )
            result = ChatResult(
                text=choice.message.content or "",
                finish_reason=_finish(choice.finish_reason),
                usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(0, 0),
                model=response.model or self._model,
                latency_s=time.perf_counter() - started,
                tool_calls=calls,
            )
            finish(result)
            return result

    async def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        started = time.perf_counter()
        parts: list[str] = []
        finish: FinishReason = "stop"
        usage = Usage(0, 0)
        model = self._model
        calls: dict[int, list[str]] = {}
        opts = self._options(options)
        with traced_chat(
            self._model, provider=PROVIDER, options=opts, in_process=False, stream=True
        ) as traced:
            try:
                stream = await self._client.chat.completions.create(
                    **self._request(messages, options),
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async for chunk in stream:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.finish_reason:
                            finish = _finish(choice.finish_reason)
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            yield ChatChunk(choice.delta.content)
                        for delta in choice.delta.tool_calls or ():
                            # Streamed calls arrive in pieces keyed by index: id and name once, then JSON.
                            call = calls.setdefault(delta.index, ["", "", ""])
                            call[0] = delta.id or call[0]
                            if delta.function is not None:
                                call[1] += delta.function.name or ""
                                call[2] += delta.function.arguments or ""
            except openai.OpenAIError as exc:
                raise self._translate(exc) from exc
            tool_calls = tuple(ToolCall(i, n, a or "{}") for i, n, a in (calls[k] for k in sorted(calls)))
            result = ChatResult(
                "".join(parts), finish, usage, model, time.perf_counter() - started, tool_calls=tool_calls
            )
            traced(result)
            yield ChatChunk("", result)

    async def aclose(self) -> None:
        await self._client.close()

    def _options(self, options: GenerationOptions | None) -> GenerationOptions:
        """The settings a request is sent with: ``options`` over the defaults (for its span)."""
        return (options or GenerationOptions()).over(self.defaults)

    def _request(self, messages: Sequence[ChatMessage], options: GenerationOptions | None) -> dict[str, Any]:
        o, d = options or GenerationOptions(), self.defaults
        if o.extract is not None:
            raise ModelError(f"{self._model}: extractive decoding is not supported here (supports_extract)")
        request: dict[str, Any] = {
            "model": self._model,
            "messages": [_message(m) for m in messages],
        }
        if o.tools:
            request["tools"] = [t.to_openai() for t in o.tools]
        if o.json_schema is not None:
            schema = {"name": "reply", "schema": dict(o.json_schema), "strict": True}
            request["response_format"] = {"type": "json_schema", "json_schema": schema}
        for key, value in (
            ("max_tokens", o.max_tokens or d.max_tokens),
            ("temperature", o.temperature if o.temperature is not None else d.temperature),
            ("top_p", o.top_p if o.top_p is not None else d.top_p),
            ("seed", o.seed if o.seed is not None else d.seed),
        ):
            if value is not None:
                request[key] = value
        if o.stop or d.stop:
            request["stop"] = list(o.stop or d.stop)
        return request

    def _translate(self, exc: openai.OpenAIError) -> ModelError:
        attempts = self.max_retries + 1
        if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
            return ModelUnavailableError(
                f"no answer from the OpenAI-compatible server at {self.base_url} after {attempts} "
                f"attempt(s): {str(exc).rstrip('.')}. Is it running? Check llm.base_url / OPENAI_BASE_URL."
            )
        if isinstance(exc, openai.NotFoundError):
            return ModelNotFoundError(f"{self.base_url} does not serve model {self._model!r}: {exc}")
        if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
            return ModelUnavailableError(f"{self.base_url} still failing after {attempts} attempt(s): {exc}")
        return ModelResponseError(f"{self.base_url} refused the request: {exc}")


def _finish(reason: str | None) -> FinishReason:
    return "length" if reason == "length" else "tool_calls" if reason == "tool_calls" else "stop"


def _message(m: ChatMessage) -> dict[str, Any]:
    message: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        message["tool_call_id"] = m.tool_call_id
    return message
