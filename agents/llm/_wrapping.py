"""What chat models built over others share: the wrapped model's name and capabilities, and a finished
reply replayed as a stream."""

from __future__ import annotations

import re
from collections.abc import Iterator

from synthswarm.agents.llm._types import ChatChunk, ChatModel, ChatResult

__all__ = ["WrappedChat", "word_chunks"]

_WORDS = re.compile(r"\s*\S+|\s+")


class WrappedChat:
    """Base of a :class:`~synthswarm.agents.llm.ChatModel` that wraps ``inner`` (a cache, a recorder):
    its name and capabilities are the inner model's. Subclasses add ``complete``, ``stream``, ``aclose``."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def supports_tools(self) -> bool:
        return self.inner.supports_tools

    @property
    def supports_structured(self) -> bool:
        return self.inner.supports_structured

    @property
    def supports_extract(self) -> bool:
        return self.inner.supports_extract


def word_chunks(result: ChatResult) -> Iterator[ChatChunk]:
    """A finished reply as a stream would bring it: its words, each with the whitespace before it, then
    an empty chunk carrying ``result``."""
    for piece in _WORDS.findall(result.text):
        yield ChatChunk(piece)
    yield ChatChunk("", result)
