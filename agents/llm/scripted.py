"""ScriptedChat: a fake chat model for tests, shipped so users can test their own swarms offline."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass

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
from synthswarm.agents.llm._wrapping import word_chunks
from synthswarm.swarm.errors import ScriptedChatError

__all__ = ["Reply", "ScriptedCall", "ScriptedChat"]

#: A scripted reply: fixed text, a full result, or a function of the conversation.
Reply = str | ChatResult | Callable[[Sequence[ChatMessage]], str]


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One call the fake received."""

    messages: tuple[ChatMessage, ...]
    options: GenerationOptions

    @property
    def last_user_message(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


class ScriptedChat:
    """Answers with the replies it was given, in order, and records every call.

    Token counts are whitespace-separated words. ``stop`` and ``max_tokens`` are applied to the scripted
    text as a real model would apply them. Running out of replies raises
    :class:`~synthswarm.swarm.errors.ScriptedChatError`; so does :meth:`aclose` (or :meth:`assert_used`) when
    replies are left over, because an unused reply usually means the code under test skipped a call.
    ``default`` answers every call once the script is used up, for tests that do not count calls.
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        name: str = "scripted",
        extract: bool = False,
        structured: bool = False,
    ):
        self._replies: deque[Reply] = deque(replies)
        self._default = default
        self._name = name
        self._extract = extract
        self._structured = structured
        self.calls: list[ScriptedCall] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_tools(self) -> bool:
        """True: script a :meth:`tool_call` reply to test an agent's tool loop."""
        return True

    @property
    def supports_structured(self) -> bool:
        """As constructed (``structured=True``: script the JSON text a structured reply would be)."""
        return self._structured

    @property
    def supports_extract(self) -> bool:
        """As constructed (``extract=True`` to test an agent's extractive answers: the options a call
        was made with are in :attr:`calls`; the reply is still the scripted one)."""
        return self._extract

    @staticmethod
    def tool_call(name: str, arguments: dict[str, object], *, call_id: str = "call-1") -> ChatResult:
        """A scripted reply that asks for one tool call."""
        call = ToolCall(call_id, name, json.dumps(arguments))
        return ChatResult("", "tool_calls", Usage(0, 0), "scripted", tool_calls=(call,))

    @property
    def remaining(self) -> int:
        return len(self._replies)

    def add(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        opts = options or GenerationOptions()
        call = ScriptedCall(tuple(messages), opts)
        self.calls.append(call)
        # A span like a real backend's, so tests see what tracing records (synthswarm.swarm.telemetry).
        with traced_chat(self._name, provider="scripted", options=opts, in_process=True) as finish:
            if self._replies:
                reply = self._replies.popleft()
            elif self._default is not None:
                reply = self._default
            else:
                raise ScriptedChatError(
                    f"ScriptedChat {self._name!r} has no reply left for call #{len(self.calls)} "
                    f"(last user message: {call.last_user_message[:80]!r})"
                )
            if isinstance(reply, ChatResult):
                result = reply
            else:
                text = reply(messages) if callable(reply) else reply
                result = self._result(text, messages, opts)
            finish(result)
            return result

    async def stream(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        for chunk in word_chunks(await self.complete(messages, options=options)):
            yield chunk

    def assert_used(self) -> None:
        if self._replies:
            raise ScriptedChatError(
                f"ScriptedChat {self._name!r} was left with {len(self._replies)} unused repl"
                f"{'y' if len(self._replies) == 1 else 'ies'}; first: {self._replies[0]!r:.80}"
            )

    async def aclose(self) -> None:
        self.assert_used()

    def _result(self, text: str, messages: Sequence[ChatMessage], opts: GenerationOptions) -> ChatResult:
        finish: FinishReason = "stop"
        cuts = [i for i in (text.find(s) for s in opts.stop if s) if i >= 0]
        if cuts:
            text = text[: min(cuts)]
        words = text.split()
        if opts.max_tokens is not None and len(words) > opts.max_tokens:
            words, finish = words[: opts.max_tokens], "length"
            text = " ".join(words)
        prompt = sum(len(m.content.split()) for m in messages)
        return ChatResult(text, finish, Usage(prompt, len(words)), self._name)
