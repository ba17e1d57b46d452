"""The settings of ``synthswarm bench faults``, shared by every section."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synthswarm.swarm.app.bench import FAULT_SECTIONS

__all__ = ["FaultBenchSettings", "Progress"]


Progress = Callable[[str], None]
"""Where a section reports what it is doing, one line at a time."""


@dataclass(frozen=True)
class FaultBenchSettings:
    """How big each section runs, with which seed, and which sections run."""

    nodes: int = 64
    """Nodes in the churn and partition swarms."""
    packets: int = 200
    """Packets per measured phase of churn and partition."""
    attacks: int = 1000
    """Forged packets, replayed packets and impostor frames, each."""
    fuzz_inputs: int = 100_000
    """Mutated inputs to the byte decoders (a tenth as many again to a live node)."""
    http_inputs: int = 5_000
    soak_packets: int = 100_000
    soak_nodes: int = 64
    soak_hosts: str = "separate"
    """``separate``: each soak node binds its own sockets; ``shared``: they share one transport host,
    as nodes in one process can (:func:`~synthswarm.swarm.dht.testing.launch_swarm` ``shared=True``). Separate
    hosts in one process cost libzmq a pipe pair per connected pair of nodes, whose buffers grow
    the resident memory as more pairs exchange messages."""
    seed: int = 0
    sections: tuple[str, ...] = FAULT_SECTIONS
