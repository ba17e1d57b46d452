"""The **fuzz** section: mutated inputs to every decoder of untrusted bytes, a live node's handlers,
the node's journal and the HTTP API, plus atheris (coverage-guided, in a child process) when installed."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench._faults_settings import FaultBenchSettings, Progress
from synthswarm.swarm.app.fuzz import (
    Crash,
    FuzzReport,
    fuzz_http,
    fuzz_journal,
    fuzz_live_node,
    run_byte_fuzz,
    seed_frames,
    seed_packets,
)

__all__ = ["run"]


def run(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    report = run_byte_fuzz(s.fuzz_inputs, seed=s.seed, progress=lambda n: progress(f"fuzz: {n} inputs"))
    progress("fuzz: a live node")
    report.add(tasks.run(fuzz_live_node(max(1, s.fuzz_inputs // 10), seed=s.seed)))
    with tempfile.TemporaryDirectory() as d:
        report.add(fuzz_journal(max(1, s.fuzz_inputs // 50), seed=s.seed, directory=d))
    progress(f"fuzz: {s.http_inputs} HTTP requests")
    report.add(tasks.run(fuzz_http(s.http_inputs, seed=s.seed)))
    atheris = _atheris(s, progress)
    if atheris is not None:
        report.add(atheris)
    return {
        "fuzz_inputs": report.inputs,
        "fuzz_crashes": len(report.crashes),
        "fuzz_per_target": report.per_target,
        "fuzz_engines": ["mutational", *(["atheris"] if atheris is not None else [])],
        "fuzz_first_crashes": [dataclasses.asdict(c) for c in report.crashes[:5]],
    }


def _atheris(s: FaultBenchSettings, progress: Progress) -> FuzzReport | None:
    """Coverage-guided runs in a child process (atheris never returns), seeded with valid inputs."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        progress("fuzz: atheris is not installed (pip install 'synthswarm[fuzz]'); skipped")
        return None
    runs = s.fuzz_inputs
    progress(f"fuzz: atheris, {runs} runs")
    with tempfile.TemporaryDirectory() as corpus:
        for i, data in enumerate(seed_packets(s.seed) + seed_frames(s.seed)):
            Path(corpus, f"seed-{i}").write_bytes(data)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "synthswarm.swarm.app.fuzz", corpus, f"-atheris_runs={runs}",
            f"-seed={s.seed + 1}"],
            capture_output=True, text=True, check=False, timeout=3600,
        )  # fmt: skip
    report = FuzzReport(inputs=runs, per_target={"atheris": runs}, seconds=time.perf_counter() - started)
    if done.returncode != 0:
        report.crashes.append(Crash("atheris", done.stderr[-300:], ""))
    return report
