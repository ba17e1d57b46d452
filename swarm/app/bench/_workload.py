"""The routing benchmarks' workload and recall, shared by ``bench routing`` and ``bench simulate``:
interest vectors around topic centres, packets about a topic, and recall at m against the exact
nearest subscribers."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet

__all__ = [
    "DIMS",
    "ROUTING",
    "Deliveries",
    "Workload",
    "bench_packet",
    "nearest",
    "plan_packets",
    "recall_at",
    "synthetic_interests",
    "unit",
]

DIMS = 384
#: Request categories that route packets; the rest (table upkeep, maintenance) is counted apart.
ROUTING = frozenset({"semantic", "deliver", "hub", "gossip"})
_CHUNK = 65_536


def synthetic_interests(
    n: int, topics: int, rng: np.random.Generator, spread: float = 1.0
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """(interest vectors, topic of each, topic centres): unit vectors around random unit centres.
    The noise is drawn a chunk of rows at a time (the same draws as all at once): a million rows of
    float64 at once would take 3 GB."""
    centres = unit(rng.standard_normal((topics, DIMS)))
    topic_of = rng.integers(0, topics, n)
    out = np.empty((n, DIMS), np.float32)
    for lo in range(0, n, _CHUNK):
        rows = topic_of[lo : lo + _CHUNK]
        noise = rng.standard_normal((len(rows), DIMS)) * (spread / math.sqrt(DIMS))
        out[lo : lo + _CHUNK] = unit(centres[rows] + noise)
    return out, topic_of, centres


def plan_packets(
    packets: int,
    agents: int,
    rng: np.random.Generator,
    topic_of: npt.NDArray[np.int64],
    centres: npt.NDArray[np.float32],
    publishers: int = 0,
) -> list[tuple[int, npt.NDArray[np.float32]]]:
    """(publisher, packet vector) for each packet, about the publisher's own topic half the time;
    publishers among the first ``publishers`` agents (0: any)."""
    plan = []
    for _ in range(packets):
        publisher = int(rng.integers(0, publishers or agents))
        topic = int(topic_of[publisher]) if rng.random() < 0.5 else int(rng.integers(0, len(centres)))
        noise = rng.standard_normal(DIMS) * (0.8 / math.sqrt(DIMS))
        plan.append((publisher, unit(centres[topic] + noise)))
    return plan


def bench_packet(identity: Identity, vector: npt.NDArray[np.float32]) -> OutcomePacket:
    return make_packet(identity, kind="finding", topic="bench", finding="routing benchmark", embedding=vector)


class Deliveries:
    """Which agents (by index) received each packet, as the agents' own delivery callbacks record it."""

    def __init__(self) -> None:
        self.received: defaultdict[bytes, set[int]] = defaultdict(set)

    def inbox(self, index: int) -> Callable[[OutcomePacket], Awaitable[None]]:
        """The delivery callback of agent ``index``."""

        async def deliver(packet: OutcomePacket) -> None:
            self.received[packet.id].add(index)

        return deliver


def recall_at(
    m: int, interests: npt.NDArray[np.float32], packet: OutcomePacket, publisher: int, received: set[int]
) -> float:
    """Share of the ``m`` agents nearest the packet (the publisher left out) that received it. The
    truth is ranked against the embedding the packet carries (int8), as routers see it."""
    return len(received & set(nearest(m, interests, packet, publisher))) / m


def nearest(m: int, interests: npt.NDArray[np.float32], packet: OutcomePacket, publisher: int) -> list[int]:
    """The ``m`` agents nearest the packet, the publisher left out (:func:`recall_at`'s truth)."""
    scores = interests @ packet.embedding.to_array()
    scores[publisher] = -np.inf
    return np.argpartition(-scores, m)[:m].tolist() if m < len(scores) else list(range(len(scores)))


def unit(m: npt.ArrayLike) -> npt.NDArray[np.float32]:
    a = np.asarray(m, np.float32)
    out: npt.NDArray[np.float32] = (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)
    return out


@dataclass
class Workload:
    """Agent ``i``'s interest row and id, and the packets (each with its publisher's index). It
    depends only on the seed, the number of agents, packets and topics."""

    interests: npt.NDArray[np.float32]
    topics: int
    plan: list[tuple[int, npt.NDArray[np.float32]]]
    agent_ids: list[bytes]
    packets: list[OutcomePacket]

    @classmethod
    def of(cls, n: int, packets: int, topics: int, seed: int) -> Workload:
        rng = np.random.default_rng(seed)
        topics = topics or max(4, n // 16)
        interests, topic_of, centres = synthetic_interests(n, topics, rng)
        plan = plan_packets(packets, n, rng, topic_of, centres)
        seeds = [rng.bytes(32) for _ in range(n)]
        ids = [Identity.from_seed(s).id for s in seeds]
        made = [bench_packet(Identity.from_seed(seeds[p]), vec) for p, vec in plan]
        return cls(interests, topics, plan, ids, made)
