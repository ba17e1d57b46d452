"""One memory budget for the rendezvous matrices of every node of a simulation.

Each rendezvous keeps the rows under each key it answers for decoded into a float32 matrix
(:class:`~synthswarm.swarm.routers._rendezvous.SubscriptionIndex`): 1.5 MB for a key of 1,024 rows of
384 dimensions. A real node holds a few keys; a process simulating thousands of rendezvous holds
thousands of such matrices, which is most of what a large simulation's memory grows by. The matrix is
derived from the node's store and rebuilt whenever it is missing, so dropping the least recently used
ones over a budget shared by all nodes changes no answer, only the CPU spent rebuilding.
"""

from __future__ import annotations

from collections import OrderedDict

from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.routers._rendezvous import RENDEZVOUS_TOPIC, SubscriptionIndex, _rendezvous, _Rows

__all__ = ["MatrixBudget", "serve_within"]


class MatrixBudget:
    """The decoded matrices of every node's rendezvous index, at most ``max_bytes`` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.rebuilt = 0
        """Matrices built again after the budget dropped them."""
        self._order: OrderedDict[tuple[int, bytes, int], tuple[_BudgetedIndex, int]] = OrderedDict()
        self._dropped: set[tuple[int, bytes, int]] = set()

    def used(self, index: _BudgetedIndex, key: tuple[bytes, int], nbytes: int) -> None:
        """``index`` answered from its matrix for ``key`` (``nbytes`` of it) just now."""
        slot = (id(index), key[0], key[1])
        if slot in self._order:
            self._order.move_to_end(slot)
            return
        if slot in self._dropped:
            self._dropped.discard(slot)
            self.rebuilt += 1
        self._order[slot] = (index, nbytes)
        self.held += nbytes
        while self.held > self.max_bytes and len(self._order) > 1:
            (owner_id, old, dims), (owner, size) = self._order.popitem(last=False)
            owner.drop((old, dims))
            self._dropped.add((owner_id, old, dims))
            self.held -= size


class _BudgetedIndex(SubscriptionIndex):
    def __init__(self, node: DHTNode, budget: MatrixBudget) -> None:
        super().__init__(node)
        self._budget = budget

    def _rows_of(self, key: bytes, dims: int) -> _Rows | None:
        rows = super()._rows_of(key, dims)
        if rows is not None:
            self._budget.used(self, (key, dims), rows.matrix.nbytes)
        return rows

    def drop(self, key: tuple[bytes, int]) -> None:
        self._rows.pop(key, None)


def serve_within(node: DHTNode, budget: MatrixBudget) -> SubscriptionIndex | None:
    """Make ``node`` answer rendezvous requests as :func:`serve_rendezvous` does, its matrices
    counted against ``budget``; returns the index it answers from. A node that already serves them
    is left as it is (None)."""
    if RENDEZVOUS_TOPIC in node.app_topics():
        return None
    index = _BudgetedIndex(node, budget)
    node.register_app(RENDEZVOUS_TOPIC, lambda sender, payload: _rendezvous(node, index, payload))
    return index
