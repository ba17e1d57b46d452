"""The custom events the dispatcher streams (``stream_mode="custom"``), and the answer read back from them."""

from __future__ import annotations

from typing import Any

__all__ = [
    "EVENT_ANSWER",
    "EVENT_DENIED",
    "EVENT_FAILED",
    "EVENT_FINAL",
    "EVENT_RETRY",
    "EVENT_ROUTE",
    "EVENT_TOKEN",
    "AnswerStream",
]

EVENT_ROUTE = "route"
EVENT_ANSWER = "answer"
EVENT_FINAL = "final"
EVENT_TOKEN = "token"
"""A piece of a specialist's answer as its model writes it (``agent``, ``text``)."""
EVENT_RETRY = "retry"
"""A specialist's attempt failed and will be tried again (``agent``, ``attempt``, ``error``)."""
EVENT_FAILED = "failed"
"""A specialist failed for good this turn; the others go on (``agent``, ``attempts``, ``error``)."""
EVENT_DENIED = "denied"
"""A person denied a step (``agent``, ``kind``, ``tool``, ``reason``)."""


class AnswerStream:
    """The final answer's text as it grows, from the dispatcher's custom events: when one specialist
    was asked, its tokens are the answer and pass through as they come; otherwise (several answers to
    compose, or none) the answer arrives whole with the final event. The pieces add up to the final
    answer."""

    def __init__(self) -> None:
        self.text = ""
        self._writer: str | None = None

    def feed(self, event: dict[str, Any]) -> str:
        """The text this event adds to the answer ("" for most events)."""
        kind = event.get("type")
        if kind == EVENT_ROUTE:
            chosen = event["specialists"]
            self._writer = chosen[0]["name"] if len(chosen) == 1 else None
        elif kind == EVENT_TOKEN and event["agent"] == self._writer:
            return self._add(event["text"])
        elif kind == EVENT_FINAL:
            answer = str(event["answer"])
            if answer.startswith(self.text):
                return self._add(answer[len(self.text) :])
            return self._add("\n\n" + answer)  # only if the streamed text was not the answer after all
        return ""

    def _add(self, piece: str) -> str:
        self.text += piece
        return piece
