"""Generation: the model writes an answer from the evidence, calling tools where it may.

The evidence is shown best first. A model that supports extraction answers a question that wants a
short answer by choosing among phrases of the ``focus_sentences`` sentences that bear most on it,
found in the best ``context_words`` of the evidence, and reads only those
(:mod:`synthswarm.agents.reading`); otherwise it writes freely, with a tool loop where the backend
supports tools. The answer is the first line the model writes, without an "Answer:" prefix: streamed,
it is cleaned as it comes (:class:`StreamCleaner`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synthswarm.agents._specialist.core import AgentCore
from synthswarm.agents._specialist.evidence import Evidence
from synthswarm.agents._specialist.follow_ups import Turn
from synthswarm.agents.approval import KIND_TOOL, ApprovalRequest, Approver, Decision
from synthswarm.agents.llm import ChatMessage, ChatResult, GenerationOptions
from synthswarm.agents.reading import read
from synthswarm.swarm.errors import ModelError, ToolError

__all__ = ["StreamCleaner", "clean", "generate"]


async def generate(
    agent: AgentCore,
    task: str,
    context: Sequence[Evidence],
    on_token: Callable[[str], None] | None = None,
    history: Sequence[Turn] = (),
    search: str | None = None,
    approve: Approver | None = None,
) -> tuple[str, int, int]:
    """The model's answer to ``task`` from ``context``: (text, calls, tokens). With ``on_token``,
    every round is streamed and the answer's text goes to it as it comes, cleaned; the answer is then
    exactly what was streamed. ``history``: earlier turns the model sees; ``search``: the question as
    searched (a follow-up with its referent), what the focused sentences bear on; ``approve``: asked
    before a tool that needs approval runs."""
    messages, options = _prompt(agent, task, context, history, search)
    calls = tokens = 0
    streamed = ""
    for _ in range(agent.settings.max_tool_rounds + 1):
        try:
            if on_token is None:
                result = await agent.chat.complete(messages, options=options)
            else:
                result, piece = await _stream(agent, messages, options, on_token)
                streamed += piece
        except ModelError as exc:
            raise type(exc)(f"agent {agent.name!r}: {exc}") from exc
        calls += 1
        tokens += result.usage.total_tokens
        if not result.tool_calls:
            return (clean(result.text) if on_token is None else streamed), calls, tokens
        messages.append(ChatMessage.assistant(result.text, result.tool_calls))
        for call in result.tool_calls:
            result_text = await _run_tool(agent, call.name, call.arguments, task, approve)
            messages.append(ChatMessage.tool(call.id, result_text))
    return streamed, calls, tokens


def _prompt(
    agent: AgentCore,
    task: str,
    context: Sequence[Evidence],
    history: Sequence[Turn],
    search: str | None,
) -> tuple[list[ChatMessage], GenerationOptions]:
    """The first request's messages and options: the evidence the model reads, the earlier turns,
    and either the phrases to choose among or the tools it may call."""
    settings = agent.settings
    passages = [e.text for e in sorted(context, key=lambda e: -e.score)]
    extract = None
    if settings.extractive and agent.chat.supports_extract and passages:
        evidence = [(e.text, e.score) for e in context]
        reading = read(
            task, evidence, words=settings.context_words, sentences=settings.focus_sentences, search=search
        )
        extract, passages = reading.extract, list(reading.passages)
    text = " ".join(passages) or "(nothing found)"
    messages = [
        ChatMessage.system(agent.instructions),
        *(
            m
            for turn in history
            for m in (ChatMessage.user(turn.question), ChatMessage.assistant(turn.answer))
        ),
        ChatMessage.user(f"Text: {text}\nQuestion: {task}"),
    ]
    use_tools = agent.chat.supports_tools and bool(agent.tools) and extract is None
    options = GenerationOptions(
        max_tokens=settings.max_tokens,
        tools=tuple(t.spec for t in agent.tools) if use_tools else (),
        extract=extract,
    )
    return messages, options


async def _stream(
    agent: AgentCore, messages: list[ChatMessage], options: GenerationOptions, on_token: Callable[[str], None]
) -> tuple[ChatResult, str]:
    """One streamed completion: its result, and the cleaned text passed to ``on_token`` (a round
    that ends in tool calls usually streams none)."""
    cleaner = StreamCleaner()
    result = None
    async for chunk in agent.chat.stream(messages, options=options):
        if chunk.text and (piece := cleaner.feed(chunk.text)):
            on_token(piece)
        result = chunk.result or result
    if piece := cleaner.finish():
        on_token(piece)
    if result is None:
        raise ModelError(f"{agent.chat.name}: the stream ended without a result")
    return result, cleaner.text


async def _run_tool(agent: AgentCore, name: str, arguments: str, task: str, approve: Approver | None) -> str:
    tool = next((t for t in agent.tools if t.name == name), None)
    if tool is None:
        return f"error: no tool named {name!r}; the tools are {', '.join(t.name for t in agent.tools)}"
    if tool.needs_approval:
        request = ApprovalRequest(KIND_TOOL, agent.name, task, tool=name, arguments=arguments)
        decision = await approve(request) if approve is not None else Decision(False, "no one to ask")
        if not decision.approved:
            return f"error: a person denied running {name}" + (
                f" ({decision.reason})" if decision.reason else ""
            )
    try:
        return await tool.call(arguments)
    except ToolError as exc:
        return f"error: {exc}"


_PREFIXES = ("the answer is:", "answer:", "a:")


class StreamCleaner:
    """:func:`clean` applied to a stream: ``feed`` raw pieces, get back the cleaned text's new part.
    The pieces given out add up to exactly ``clean`` of everything fed."""

    _HOLD = max(len(p) for p in _PREFIXES)

    def __init__(self) -> None:
        self._raw = ""
        self.text = ""
        """What has been given out so far."""
        self._done = False

    def feed(self, piece: str) -> str:
        if self._done:
            return ""
        self._raw += piece
        line_ended = "\n" in self._raw.lstrip()
        if not line_ended and len(self._raw.strip()) < self._HOLD:
            return ""  # a prefix to strip may still be arriving
        self._done = line_ended
        return self._advance(clean(self._raw))

    def finish(self) -> str:
        """The rest, once the stream has ended."""
        if self._done:
            return ""
        self._done = True
        return self._advance(clean(self._raw))

    def _advance(self, cleaned: str) -> str:
        if not cleaned.startswith(self.text):  # cannot happen: cleaning only trims a growing line's end
            return ""
        new, self.text = cleaned[len(self.text) :], cleaned
        return new


def clean(text: str) -> str:
    """The first line of an answer, without a leading "Answer:" that small models like to add."""
    first = next((line.strip() for line in text.strip().splitlines() if line.strip()), "")
    for prefix in _PREFIXES:
        if first.lower().startswith(prefix):
            first = first[len(prefix) :].strip()
    return first
