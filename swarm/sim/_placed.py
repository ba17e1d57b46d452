"""Interest rows placed where subscribing would store them, without a message: the shortcut that lets
a simulation publish to a million agents without first running a million subscribes.

What a real :meth:`DHTRouter.subscribe` of agent ``i`` (one interest row, on node ``i``) leaves, and
what :func:`place_rows` reproduces:

- the row goes under its bucket's key in every LSH table (:meth:`SemanticHasher.own_keys`);
- it is stored on the ``replicas`` nodes closest to the key, all of them alike (a real put's lookup
  may stop early and land on a node just outside them, and a lost STORE may leave one replica
  short: neither is modelled);
- a key keeps the first ``max_records_per_key`` rows that reach it, in agent order (a real
  swarm subscribes many agents at once, so its order is only roughly that); a row refused for
  being full goes one level down (:meth:`SemanticHasher.spill`), and so on, as
  :meth:`DHTRouter._put_row` walks; a row past the last level is lost.

A node learns its rows when it starts (:meth:`PlacedRows.fill`), so a node brought into being by a
simulation's first message to it (:mod:`synthswarm.swarm.sim._lazy`) holds them from then on.
Each row's record is the bytes the real subscribe would store, built once per agent and shared by
every node holding it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.errors import SimulationError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.routers import DHTRouter
from synthswarm.swarm.routers._base import DeliverFn
from synthswarm.swarm.routers._messages import Subscription
from synthswarm.swarm.routers.dht import _subkey
from synthswarm.swarm.semantic import MAX_SPILL, SemanticHasher, TopicKey
from synthswarm.swarm.sim._ids import SwarmIds
from synthswarm.swarm.sim._network import address_of

__all__ = ["PlacedRouter", "PlacedRows", "place_rows", "row_value"]

_CHUNK = 65_536
"""Vectors projected at a time (a million at once would copy 1.5 GB)."""


class PlacedRouter(DHTRouter):
    """A :class:`DHTRouter` whose agents' rows were placed (:func:`place_rows`) rather than stored
    by :meth:`subscribe`: :meth:`adopt` does the rest of what subscribing does on the agent's node."""

    def adopt(self, agent_id: bytes, deliver: DeliverFn, node: DHTNode) -> None:
        """Host ``agent_id`` on ``node`` (its packets go to ``deliver``; it may publish), and serve
        rendezvous there, without storing a row."""
        self.serve(node)
        NodeHost.on(node).add(agent_id, deliver, self._stats)
        self._home[agent_id] = node


@dataclass
class PlacedRows:
    """Where every row is (see the module docstring)."""

    rows: dict[bytes, npt.NDArray[np.int64]]
    """By key: the agents whose row it holds, in the order they were stored."""
    holders: dict[bytes, list[int]]
    """By key: the nodes that hold it, nearest first."""
    spilled: int
    """Steps down a level, counted as :attr:`RouterStats.subscriptions_spilled` counts them."""
    lost: int
    """Rows no level kept."""
    ttl_s: int
    replicas: int
    by_node: dict[int, list[bytes]] = field(default_factory=dict)
    """By node: the keys it holds."""

    def __post_init__(self) -> None:
        for key, nodes in self.holders.items():
            for node in nodes:
                self.by_node.setdefault(node, []).append(key)

    def records_held(self, n: int) -> list[int]:
        """Records each of ``n`` nodes holds."""
        held = [0] * n
        for key, nodes in self.holders.items():
            for node in nodes:
                held[node] += len(self.rows[key])
        return held

    def fill(self, node: DHTNode, index: int, value: Callable[[int], tuple[bytes, bytes]]) -> int:
        """Store on ``node`` (node ``index``) every row it holds; ``value(agent)`` is that agent's
        (subkey, record value). Returns how many records it stored."""
        stored = 0
        for key in self.by_node.get(index, ()):
            for agent in self.rows[key].tolist():
                subkey, data = value(agent)
                ok, _ = node.store.put(key, Record(subkey, data, self.ttl_s), replicas=self.replicas)
                stored += ok
        return stored


def place_rows(
    hasher: SemanticHasher,
    interests: npt.NDArray[np.float32],
    ids: SwarmIds,
    *,
    replicas: int,
    per_key: int,
    ttl_s: int,
) -> PlacedRows:
    """Place agent ``i``'s row ``interests[i]`` (module docstring); ``per_key``: the stores' cap
    of records under one key."""
    buckets, sides = _project(hasher, interests)
    rows: dict[bytes, npt.NDArray[np.int64]] = {}
    spilled = lost = 0
    for table in range(hasher.settings.tables):
        agents = np.arange(len(interests))
        bucket = buckets[:, table].copy()
        for level in range(MAX_SPILL + 1):
            order = np.argsort(bucket, kind="stable")  # by bucket, agents in order within each
            ranked, agents = bucket[order], agents[order]
            starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
            ends = np.r_[starts[1:], len(ranked)]
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                topic = _topic(hasher, interests[int(agents[start])], table, level)
                if topic.bucket != ranked[start]:
                    raise SimulationError("the batched projection disagrees with the hasher's")
                rows[topic.key] = agents[start : min(end, start + per_key)]
            over = np.arange(len(ranked)) - np.repeat(starts, ends - starts) >= per_key
            if level == MAX_SPILL:
                lost += int(over.sum())
                break
            agents, bucket = agents[over], ranked[over]
            spilled += len(agents)
            if not len(agents):
                break
            bucket = bucket | sides[agents, table, level].astype(np.int64) << (hasher.settings.bits + level)
    holders = {key: ids.closest(key, replicas) for key in rows}
    return PlacedRows(rows, holders, spilled, lost, ttl_s, replicas)


def _topic(hasher: SemanticHasher, vector: npt.NDArray[np.float32], table: int, level: int) -> TopicKey:
    """The key of ``vector``'s bucket at ``level`` of ``table``, as the hasher names it: its own
    key, spilled down ``level`` times."""
    topic: TopicKey | None = hasher.own_keys(vector)[table]
    for _ in range(level):
        topic = hasher.spill(vector, topic) if topic is not None else None
    if topic is None:
        raise SimulationError(f"no key at spill level {level}")
    return topic


def _project(
    hasher: SemanticHasher, interests: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """(each row's bucket in each table, its side of each table's spill planes)."""
    s = hasher.settings
    planes = hasher.planes.reshape(s.tables * s.bits, -1).T
    deeper = hasher.spill_planes.reshape(s.tables * MAX_SPILL, -1).T
    weights = 1 << np.arange(s.bits, dtype=np.int64)
    buckets = np.empty((len(interests), s.tables), np.int64)
    sides = np.empty((len(interests), s.tables, MAX_SPILL), np.bool_)
    for lo in range(0, len(interests), _CHUNK):
        v = interests[lo : lo + _CHUNK] - hasher.center
        bits = (v @ planes > 0).reshape(len(v), s.tables, s.bits)
        buckets[lo : lo + _CHUNK] = (bits * weights).sum(axis=2)
        sides[lo : lo + _CHUNK] = (v @ deeper > 0).reshape(len(v), s.tables, MAX_SPILL)
    return buckets, sides


def row_value(
    agent_id: bytes, node_id: bytes, index: int, vector: npt.NDArray[np.float32]
) -> tuple[bytes, bytes]:
    """(subkey, record value) of the one interest row of agent ``agent_id`` on node ``index``, as
    :meth:`DHTRouter.subscribe` stores it."""
    record = encode(Subscription.of(agent_id, Contact(node_id, address_of(index)), vector))
    return _subkey(agent_id, 0), record
