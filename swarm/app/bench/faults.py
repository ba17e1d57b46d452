"""``synthswarm bench faults``: authenticity, fuzzing, churn, crash-restart, partition and soak.

Sections (each can be run alone with ``--only``):

- **authenticity**: forged, tampered and replayed packets sent straight to an agent's host, and RPC
  frames under someone else's key sent to a secured (CurveZMQ) node; the share refused.
- **fuzz**: mutated inputs to every decoder of untrusted bytes, a live node's handlers, the node's
  journal and the HTTP API (:mod:`synthswarm.swarm.app.fuzz`), plus atheris when it is installed; crashes
  counted.
- **churn**: an N-node swarm, one agent per node, publishing; 20% (then, on a fresh swarm, 50%) of the
  nodes are killed abruptly a third of the way in. After the survivors re-announce their records (the
  repair their maintenance does every ``republish_interval_s``), fresh packets are published, each
  addressed to a live agent (its embedding is that agent's interest vector): the *delivery rate* is the
  share that reached that agent; *lookup success* the share of records stored before the kill that a
  survivor still finds.
- **restart**: a node process with a state directory hosting an agent whose inbox is Chroma is sent
  records and packets, then killed with SIGKILL and restarted: records, inbox packets and contacts
  lost, counted against what it held (and acknowledged) just before.
- **partition**: the swarm is cut in two halves while packets are published across the cut, then
  healed; the publisher's outbox retries what could not be delivered. Delivered after healing, and
  lost, are reported.
- **soak**: many packets through a 64-node swarm; the process's resident memory is sampled.

Each section lives in a private module of its own (``_faults_authenticity`` ... ``_faults_soak``), over
the shared settings (``_faults_settings``) and the swarm that churn, partition and soak publish through
(``_faults_world``); this module runs the sections asked for and judges the figures against targets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from synthswarm.swarm.app.bench import (
    FAULT_SECTIONS,
    _faults_authenticity,
    _faults_churn,
    _faults_fuzz,
    _faults_partition,
    _faults_restart,
    _faults_soak,
)
from synthswarm.swarm.app.bench._faults_settings import FaultBenchSettings, Progress
from synthswarm.swarm.app.bench._report import Target, judge_targets

__all__ = ["SECTIONS", "FaultBenchSettings", "run_faults_bench", "targets"]

SECTIONS = FAULT_SECTIONS


def targets() -> dict[str, Target]:
    return {
        "churn20_delivery_rate": (">=", 0.99, "after repair, packets that reached their live addressee"),
        "churn50_delivery_rate": (">=", 0.9, "the same with half the nodes killed"),
        "restart_records_lost": ("<=", 0, "records held before kill -9 and missing after restart"),
        "restart_memories_lost": ("<=", 0, "inbox packets (Chroma) missing after restart"),
        "forged_rejected_rate": (">=", 1.0, "forged or tampered packets refused"),
        "replayed_rejected_rate": (">=", 1.0, "replayed packets refused"),
        "fuzz_crashes": ("<=", 0, "inputs that raised an undocumented error"),
    }


def run_faults_bench(settings: FaultBenchSettings, progress: Progress = lambda _: None) -> dict[str, Any]:
    started = time.perf_counter()
    figures: dict[str, Any] = {"sections": list(settings.sections)}
    for section in settings.sections:
        t0 = time.perf_counter()
        progress(f"{section}: starting")
        figures.update(_SECTIONS[section](settings, progress))
        figures[f"{section}_s"] = round(time.perf_counter() - t0, 1)
    figures["targets"] = judge_targets(figures, targets())
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    return figures


_SECTIONS: dict[str, Callable[[FaultBenchSettings, Progress], dict[str, Any]]] = {
    "authenticity": _faults_authenticity.run,
    "fuzz": _faults_fuzz.run,
    "churn": _faults_churn.run,
    "restart": _faults_restart.run,
    "partition": _faults_partition.run,
    "soak": _faults_soak.run,
}
