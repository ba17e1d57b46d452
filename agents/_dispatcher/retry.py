"""How a fan-out branch is retried: the default policy, and whether LangGraph will retry a failure."""

from __future__ import annotations

from collections.abc import Sequence

from langgraph.types import RetryPolicy

from synthswarm.swarm.errors import DHTError, ModelError

__all__ = ["DEFAULT_RETRY", "retries"]

DEFAULT_RETRY = RetryPolicy(
    initial_interval=0.5, max_attempts=2, jitter=False, retry_on=(ModelError, DHTError, TimeoutError)
)
"""Each fan-out branch: one more try after a model or network failure (not after a bug or a refusal)."""


def retries(policy: RetryPolicy | None, exc: Exception, attempt: int) -> bool:
    """Whether LangGraph will run the step again after ``exc`` (mirrors how it reads a policy)."""
    if policy is None or attempt >= policy.max_attempts:
        return False
    on = policy.retry_on
    if isinstance(on, type):
        return isinstance(exc, on)
    if isinstance(on, Sequence):
        return isinstance(exc, tuple(on))
    return bool(on(exc))
