"""One request to the local engine, and :class:`RowWatcher`, the ``StoppingCriteria`` that looks at
every row of a batch after every step: it finishes rows independently (stop strings, EOS, their own
token limits) and pushes each row's new text to its stream."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from synthswarm.agents.llm._types import ChatMessage, ChatResult, FinishReason, GenerationOptions

__all__ = ["DEFAULT_MAX_TOKENS", "Request", "RowWatcher", "SamplingKey"]

DEFAULT_MAX_TOKENS = 256

#: (temperature, top_p, seed): requests that share one can share one batch.
SamplingKey = tuple[float, float, int | None]


@dataclass
class Request:
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

    def sampling_key(self) -> SamplingKey:
        return (self.options.temperature or 0.0, self.options.top_p or 1.0, self.options.seed)


class RowWatcher:
    """A transformers StoppingCriteria that finishes each row on its own terms and streams its text."""

    def __init__(self, rows: list[Request], prompt_width: int, tokenizer: Any):
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

    def _advance(self, row: Request, new_ids: list[int]) -> None:
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
            if len(new_ids) >= (row.options.max_tokens or DEFAULT_MAX_TOKENS):
                row.done, row.finish = True, "length"
        self._emit(row)

    def _emit(self, row: Request) -> None:
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
