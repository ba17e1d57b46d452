"""Extractive decoding for local models: a transformers ``LogitsProcessor`` that lets each row of a
batch write only what its :class:`~synthswarm.agents.llm.Extract` allows.

Every step, a constrained row's scores are masked to the tokens that keep its reply a prefix of an
allowed text, and the end-of-turn token is allowed once the reply is a whole allowed text. The model
still chooses, greedily or by sampling, among what is allowed: the constraint decides *where* the
answer may come from, the model decides *which* one it is and where it ends.

- ``choices``: a trie of each choice's tokens; the reply ends exactly at the end of a choice.
- ``spans_of``: the texts' tokens laid end to end (with a separator between texts). The reply starts
  at a word boundary and follows the text token by token; every position it could be at is tracked,
  so the same words anywhere in the texts are one candidate.

Texts are tokenized with a leading space, as words inside a sentence are, and the engine begins the
reply with ``Answer:`` (:data:`REPLY_PREFIX`) so the model's first token is one of those.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from synthswarm.agents.llm._types import Extract

__all__ = ["REPLY_PREFIX", "ExtractRule", "ExtractiveDecoding"]

#: Written at the start of a constrained reply (not returned): after it, a word starts with a space.
REPLY_PREFIX = "Answer:"

_SEPARATOR = -1
_WORD_MARKS = ("Ġ", "▁")  # byte-level BPE and SentencePiece word starts


class ExtractRule:
    """What one row may write, over a tokenizer's ids."""

    def __init__(self, extract: Extract, tokenizer: Any, eos_ids: set[int]) -> None:
        self.eos = sorted(eos_ids)
        self.end_bias = extract.end_bias

        def ids(text: str) -> list[int]:
            return list(tokenizer(" " + " ".join(text.split()), add_special_tokens=False)["input_ids"])

        self.choices = [seq for c in extract.choices if c.strip() and (seq := ids(c))]
        tokens: list[int] = []
        for text in extract.spans_of:
            if text.strip():
                tokens += [*ids(text), _SEPARATOR]
        self.tokens: npt.NDArray[np.int64] = np.array(tokens, dtype=np.int64)
        pieces = tokenizer.convert_ids_to_tokens([t for t in tokens if t != _SEPARATOR])
        starts, j = [], 0
        for i, t in enumerate(tokens):
            if t == _SEPARATOR:
                continue
            if str(pieces[j]).startswith(_WORD_MARKS):
                starts.append(i)
            j += 1
        self.starts: npt.NDArray[np.int64] = np.array(starts, dtype=np.int64)
        # Where a span may end: before a word start, a separator, or the end (never inside a word).
        self.ends_before = np.ones(len(tokens) + 1, dtype=bool)
        self.ends_before[: len(tokens)] = self.tokens == _SEPARATOR
        self.ends_before[self.starts] = True

    def allowed(self, written: list[int]) -> list[int]:
        """Token ids that may come next after ``written`` (the end-of-turn ids once it is complete)."""
        out: set[int] = set()
        complete = False
        n = len(written)
        for seq in self.choices:
            if seq[:n] == written:
                if len(seq) > n:
                    out.add(seq[n])
                else:
                    complete = True
        if len(self.tokens):
            at = self.starts
            for token in written:
                at = at[self.tokens[at] == token] + 1
                if not len(at):
                    break
            if n and len(at):
                complete = complete or bool(self.ends_before[at].any())
            nxt = self.tokens[at[at < len(self.tokens)]]
            out.update(int(t) for t in np.unique(nxt[nxt != _SEPARATOR]))
        if complete or not out:
            out.update(self.eos)
        return sorted(out)


class ExtractiveDecoding:
    """A ``LogitsProcessor`` for a left-padded batch: rows with a rule are masked to what it allows."""

    def __init__(self, rules: list[ExtractRule | None], prompt_width: int) -> None:
        self.rules = rules
        self.width = prompt_width

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        for i, rule in enumerate(self.rules):
            if rule is None:
                continue
            allowed = torch.tensor(rule.allowed(input_ids[i, self.width :].tolist()), device=scores.device)
            keep = scores[i, allowed].clone()
            scores[i, :] = float("-inf")
            scores[i, allowed] = keep
            if rule.end_bias and input_ids.shape[1] > self.width:
                scores[i, rule.eos] += rule.end_bias
        return scores
