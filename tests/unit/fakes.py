"""A character-level stand-in for a transformers tokenizer and causal LM, to test LocalEngine offline.

The model's reply to a prompt is the text after the last ``say:`` in it, then EOS; a prompt without
``say:`` makes it emit ``a`` forever, so only ``max_tokens`` or a stop string ends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

EOS, PAD, OFFSET = 1, 0, 10


class CharTokenizer:
    eos_token_id = EOS
    pad_token_id = PAD
    padding_side = "left"

    def apply_chat_template(self, chat: list[dict[str, str]], **kwargs: Any) -> str:
        return "".join(f"<{m['role']}>{m['content']}" for m in chat) + "<assistant>"

    def __call__(self, texts: str | list[str], **kwargs: Any) -> dict[str, Any]:
        if isinstance(texts, str):
            return {"input_ids": [ord(c) + OFFSET for c in texts]}
        width = max(len(t) for t in texts)
        ids = [[PAD] * (width - len(t)) + [ord(c) + OFFSET for c in t] for t in texts]
        mask = [[0] * (width - len(t)) + [1] * len(t) for t in texts]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i - OFFSET) for i in ids if i >= OFFSET)


@dataclass
class _Config:
    max_position_embeddings: int = 512


@dataclass
class ScriptedCausalLM:
    config: _Config = field(default_factory=_Config)
    batch_sizes: list[int] = field(default_factory=list)

    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        max_new_tokens: int,
        stopping_criteria: list[Any],
        **kwargs: Any,
    ) -> torch.Tensor:
        self.batch_sizes.append(int(input_ids.shape[0]))
        tokenizer = CharTokenizer()
        scripts = []
        for row in input_ids.tolist():
            prompt = tokenizer.decode(row)
            reply = prompt.rsplit("say:", 1)[1].split("<")[0] if "say:" in prompt else None
            scripts.append([ord(c) + OFFSET for c in reply] + [EOS] if reply is not None else None)
        finished = torch.zeros(input_ids.shape[0], dtype=torch.bool)
        ids = input_ids
        for step in range(max_new_tokens):
            column = []
            for r, script in enumerate(scripts):
                if finished[r]:
                    column.append(PAD)
                elif script is None:
                    column.append(ord("a") + OFFSET)
                else:
                    column.append(script[step] if step < len(script) else EOS)
            ids = torch.cat([ids, torch.tensor(column).unsqueeze(1)], dim=1)
            for criterion in stopping_criteria:
                finished |= criterion(ids, None)
            if bool(finished.all()):
                break
        return ids
