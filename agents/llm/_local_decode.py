"""Running a loaded model over one group of requests that share their sampling: a left-padded batch
generated together, or, for a request that only chooses among fixed replies, each choice scored.

A choice's score is the sum of the log probabilities of its tokens and of ending after them
(``Extract.score`` ``"sum"``, the default), or their mean (``"mean"``). The sum prefers short choices;
the mean removes that, yet on the answers measured (evals/README.md, "Answers after issue 26") it
chose worse: SmolLM2-135M's mean favours long phrases that merely continue the text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthswarm.agents.llm._local_rows import DEFAULT_MAX_TOKENS, Request, RowWatcher
from synthswarm.agents.llm._types import ChatMessage, ChatResult, GenerationOptions, Usage
from synthswarm.agents.llm.extract import REPLY_PREFIX, ExtractiveDecoding, ExtractRule
from synthswarm.swarm.errors import PromptTooLongError

__all__ = ["BatchStats", "Decoder", "best_choice", "chat_prompt"]

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


def chat_prompt(
    tokenizer: Any, messages: Sequence[ChatMessage], options: GenerationOptions | None = None
) -> str:
    """The model's chat template over ``messages``; an extractive reply starts after its prefix."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    prompt = str(tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False))
    return prompt + REPLY_PREFIX if options is not None and options.extract else prompt


@dataclass
class Decoder:
    """A tokenizer and model, answering groups of requests and counting what it did in ``stats``."""

    tokenizer: Any
    model: Any
    name: str
    stats: BatchStats

    @property
    def context_length(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def run(self, group: list[Request]) -> None:
        """Resolve every request of ``group`` (one sampling key): choices scored, the rest generated."""
        scored = [r for r in group if r.options.extract and not r.options.extract.spans_of]
        for request in scored:
            self._choose(request)
        if len(scored) < len(group):
            self._generate([r for r in group if r not in scored])

    def _prompt(self, request: Request) -> str:
        return chat_prompt(self.tokenizer, request.messages, request.options)

    def _generate(self, group: list[Request]) -> None:
        import torch

        tok, model = self.tokenizer, self.model
        started = time.perf_counter()
        encoded = tok([self._prompt(r) for r in group], return_tensors="pt", padding=True)
        width = int(encoded["input_ids"].shape[1])
        max_new = max(r.options.max_tokens or DEFAULT_MAX_TOKENS for r in group)
        for request, mask in zip(group, encoded["attention_mask"], strict=True):
            request.prompt_tokens = int(mask.sum())
        fitting = self._refuse_too_long(group)
        if not fitting:
            return
        if len(fitting) < len(group):
            group = fitting
            encoded = tok([self._prompt(r) for r in group], return_tensors="pt", padding=True)
            width = int(encoded["input_ids"].shape[1])
        watcher = RowWatcher(group, width, tok)
        rules = [
            ExtractRule(r.options.extract, tok, watcher.eos_ids) if r.options.extract else None for r in group
        ]
        constrain = [ExtractiveDecoding(rules, width)] if any(rules) else []
        sampling = _sampling(group[0])
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

    def _refuse_too_long(self, group: list[Request]) -> list[Request]:
        """Fail the requests whose prompt and token limit overrun the context; the others go on."""
        limit = self.context_length
        too_long = [
            r for r in group if r.prompt_tokens + (r.options.max_tokens or DEFAULT_MAX_TOKENS) > limit
        ]
        for r in too_long:
            r.future.set_exception(
                PromptTooLongError(
                    f"prompt of {r.prompt_tokens} tokens plus max_tokens "
                    f"{r.options.max_tokens or DEFAULT_MAX_TOKENS} exceeds the context of {limit}"
                )
            )
        return [r for r in group if r not in too_long]

    def _choose(self, request: Request) -> None:
        """Answer with the choice the model finds likeliest as its whole reply (:func:`best_choice`
        over the log probabilities of its tokens and of ending after them), each choice scored on one
        shared pass over the prompt (its cache copied per batch of choices)."""
        tok = self.tokenizer
        started = time.perf_counter()
        extract = request.options.extract
        assert extract is not None
        ids = tok(self._prompt(request), return_tensors="pt")["input_ids"]
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
        best = best_choice(self._likelihoods(ids, [[*s, end] for s in seqs]), extract.score)
        request.text, request.finish = choices[best], "stop"
        request.completion_tokens = len(seqs[best])
        if request.on_text is not None:
            request.on_text(request.text)
        elapsed = time.perf_counter() - started
        self._record([request], elapsed)
        usage = Usage(request.prompt_tokens, request.completion_tokens)
        request.future.set_result(ChatResult(request.text, "stop", usage, self.name, elapsed))

    def _likelihoods(self, prompt: Any, replies: list[list[int]]) -> list[list[float]]:
        """The log probability of each token of each reply (token ids) right after ``prompt`` (1 x P
        ids), in order."""
        import copy

        import torch

        model = self.model
        width_prompt = int(prompt.shape[1])
        totals: list[list[float]] = []
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
                        [float(first[s[0]]), *(float(logp[j, t - 1, s[t]]) for t in range(1, len(s)))]
                    )
        return totals

    def _record(self, group: list[Request], elapsed: float) -> None:
        s = self.stats
        s.batches += 1
        s.requests += len(group)
        s.max_batch = max(s.max_batch, len(group))
        s.prompt_tokens += sum(r.prompt_tokens for r in group)
        s.completion_tokens += sum(r.completion_tokens for r in group)
        s.generate_s += elapsed


def best_choice(logprobs: Sequence[Sequence[float]], score: str = "sum") -> int:
    """The index of the likeliest reply, given each reply's per-token log probabilities: by their
    mean (``"mean"``) or their sum (``"sum"``); ties go to the earlier reply."""
    if score not in ("mean", "sum"):
        raise ValueError(f"unknown choice score {score!r}: use mean or sum")

    def value(i: int) -> float:
        total = sum(logprobs[i])
        return total / max(1, len(logprobs[i])) if score == "mean" else total

    return max(range(len(logprobs)), key=lambda i: (value(i), -i))


def _sampling(request: Request) -> dict[str, Any]:
    """generate()'s sampling arguments for a group's shared key (a seed seeds torch's global generator)."""
    import torch

    temperature, top_p, seed = request.sampling_key()
    if temperature <= 0:
        return {"do_sample": False}
    if seed is not None:
        torch.manual_seed(seed)
    return {"do_sample": True, "temperature": temperature, "top_p": top_p}
