"""Answer scoring with the official HotpotQA normalisation: lower case, no punctuation, no articles
(a, an, the), single spaces. Used by the demo and the eval harness."""

from __future__ import annotations

import re
import string
from collections import Counter

__all__ = ["contains_answer", "exact_match", "f1_score", "normalize_answer"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


def f1_score(prediction: str, gold: str) -> float:
    """Token F1 as the HotpotQA script computes it (yes/no/noanswer must match exactly)."""
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    special = {"yes", "no", "noanswer"}
    if (pred in special or ref in special) and pred != ref:
        return 0.0
    pred_tokens, ref_tokens = pred.split(), ref.split()
    common = Counter(pred_tokens) & Counter(ref_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, gold: str) -> bool:
    """Whether the normalised gold answer appears, as whole words, in the normalised prediction (a
    lenient score for a small model that answers in a sentence)."""
    ref = normalize_answer(gold)
    return bool(ref) and f" {ref} " in f" {normalize_answer(prediction)} "
