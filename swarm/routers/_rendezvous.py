"""The rendezvous side of the DHT router: answering ``semantic.rendezvous`` requests on any node.

For each key a request names, a node that holds it (or is among its ``replicas`` closest) ranks the
subscription records stored there by exact cosine against the packet's embedding and answers with its
best ``m``, and whether the key overflowed; a node that does not answers with closer contacts. The
records of a key are decoded once into a matrix of unit rows (:class:`SubscriptionIndex`), rebuilt
only when they change, so a request costs one matrix-vector product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import Contact, DHTNode
from synthswarm.swarm.errors import ProtocolError
from synthswarm.swarm.routers._messages import (
    MAX_CANDIDATES,
    Candidate,
    Candidates,
    Closer,
    decode_query,
    decode_rendezvous_request,
    decode_subscription,
)

__all__ = ["RENDEZVOUS_TOPIC", "SubscriptionIndex", "holds", "serve_rendezvous"]

RENDEZVOUS_TOPIC = "semantic.rendezvous"
_OVERFLOW_MEMORY_S = 3600.0
"""How long a rendezvous that refused a subscriber for being full keeps telling publishers to look
one level down: as long as the spilled subscription lives (the default subscription ttl)."""


def serve_rendezvous(node: DHTNode) -> None:
    """Make ``node`` answer ``semantic.rendezvous`` requests; it needs no hasher, so bare nodes
    (``synthswarm node``) serve too."""
    if RENDEZVOUS_TOPIC not in node.app_topics():
        index = SubscriptionIndex(node)
        node.register_app(RENDEZVOUS_TOPIC, lambda sender, payload: _rendezvous(node, index, payload))


def holds(node: DHTNode, key: bytes, replicas: int) -> bool:
    """Whether ``node`` should answer for ``key``: it is among the ``replicas`` closest to it as its
    own table knows them (a node knows its neighbourhood), and it holds records there or has been
    welcomed (a node still joining would answer from a store its neighbours have not yet filled).

    Holding records is not enough: a put whose lookup stopped early (``store_confirm``) also lands
    on nodes just outside the closest, and each of those holds only the rows that landed on it. A
    publisher that took its answer for the key's would miss the rest (``bench routing`` at N=2,048:
    14 of the 17 answers that lost a nearest agent came from such a node); it answers with closer
    contacts instead."""
    if node.table.count_nearer_than_self(key, replicas) >= replicas:  # not among the closest
        return False
    return node.welcomed or node.store.holds(key)


async def _rendezvous(node: DHTNode, index: SubscriptionIndex, payload: bytes) -> bytes:
    """Answer one rendezvous request: for each key it names, the best subscribers held for the key,
    or closer contacts."""
    request = decode_rendezvous_request(payload)
    query = decode_query(request.query)
    vector, m, threshold, replicas = query.embedding(), query.m, query.threshold, query.replicas
    return encode([_answer_key(node, index, key, vector, m, threshold, replicas) for key in request.keys])


def _answer_key(
    node: DHTNode,
    index: SubscriptionIndex,
    key: bytes,
    query: npt.NDArray[np.float32],
    m: int,
    threshold: float,
    replicas: int,
) -> Candidates | Closer:
    if not holds(node, key, replicas):
        return Closer(tuple(node.table.closest(key, 3)))
    top = index.best(key, query, min(m, MAX_CANDIDATES), threshold)
    full = node.store.overflowed(key, within_s=_OVERFLOW_MEMORY_S)
    return Candidates(tuple(Candidate(a, c.node_id, c.address, s) for a, c, s in top), full)


@dataclass(frozen=True)
class _Rows:
    """The subscriptions held under one key, decoded once: unit rows of one dimension."""

    version: int
    agents: list[bytes]
    contacts: list[Contact]
    matrix: npt.NDArray[np.float32]


class SubscriptionIndex:
    """Per node: the subscription records under each key as a matrix of unit rows, rebuilt only when
    the key's records change (:meth:`RecordStore.version`), so a request costs one matrix-vector
    product rather than decoding and scoring every record in Python."""

    def __init__(self, node: DHTNode, max_keys: int = 4096) -> None:
        self._node = node
        self._max_keys = max_keys
        self._rows: dict[tuple[bytes, int], _Rows] = {}

    def best(
        self, key: bytes, query: npt.NDArray[np.float32], m: int, threshold: float
    ) -> list[tuple[bytes, Contact, float]]:
        """The ``m`` best agents (each once, by its best row) at cosine at least ``threshold``."""
        rows = self._rows_of(key, query.shape[0])
        if rows is None or m <= 0:
            return []
        q = query / (float(np.linalg.norm(query)) or 1.0)
        scores = rows.matrix @ q
        order = np.argsort(-scores, kind="stable")
        out: list[tuple[bytes, Contact, float]] = []
        seen: set[bytes] = set()
        for i in order.tolist():
            score = float(scores[i])
            if score < threshold or len(out) >= m:
                break
            if rows.agents[i] not in seen:
                seen.add(rows.agents[i])
                out.append((rows.agents[i], rows.contacts[i], score))
        return out

    def _rows_of(self, key: bytes, dims: int) -> _Rows | None:
        version = self._node.store.version(key)
        if version == 0:
            return None
        cached = self._rows.get((key, dims))
        if cached is not None and cached.version == version:
            return cached
        agents, contacts, vectors = [], [], []
        for record in self._node.store.get(key):
            try:
                subscription = decode_subscription(record.value)
            except ProtocolError:
                continue
            vector = subscription.embedding()
            if vector.shape == (dims,):
                agents.append(subscription.agent_id)
                contacts.append(subscription.contact)
                vectors.append(vector)
        matrix = np.zeros((len(vectors), dims), np.float32)
        if vectors:
            matrix = np.asarray(vectors, np.float32)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        if len(self._rows) >= self._max_keys:
            self._rows.pop(next(iter(self._rows)))  # the oldest-built entry
        rows = self._rows[(key, dims)] = _Rows(version, agents, contacts, matrix)
        return rows
