"""What every benchmark shares: judging figures against targets, percentiles, skew, and reading this
process's memory."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Target", "judge_targets", "percentile", "skew", "status_kib"]

#: (comparison ">=" or "<=", threshold, what the figure means)
Target = tuple[str, float, str]


def judge_targets(figures: Mapping[str, Any], targets: Mapping[str, Target]) -> dict[str, dict[str, Any]]:
    """``{key: {"op", "threshold", "met"}}`` for the ``targets`` section of a benchmark's JSON."""
    judged = {}
    for key, (op, threshold, meaning) in targets.items():
        value = figures.get(key)
        met = None
        if isinstance(value, int | float):
            met = value >= threshold if op == ">=" else value <= threshold
        judged[key] = {"op": op, "threshold": threshold, "met": met, "meaning": meaning}
    return judged


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), -(-pct * len(ordered) // 100)))
    return float(ordered[int(rank) - 1])


def skew(values: Sequence[float]) -> float:
    """Max over mean (0 for no values or a mean of 0): how unevenly load falls on nodes."""
    mean = statistics.fmean(values) if values else 0.0
    return round(max(values) / mean, 2) if mean else 0.0


def status_kib(field: str) -> int | None:
    """A figure of this process from ``/proc/self/status``, in KiB (``VmRSS:``: resident memory now;
    ``VmHWM:``: its peak); None where there is no such file or field (not Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next((int(line.split()[1]) for line in f if line.startswith(field)), None)
    except (OSError, ValueError, IndexError):
        return None
