"""Joining without a gap: a newcomer asks its nearest nodes to welcome it (section 2.5's store on a
newcomer, asked for rather than only pushed), and until they have answered it does not claim to hold
keys it holds nothing under.

Kademlia's holders push a newcomer the records it should now hold when they first hear of it, but the
newcomer cannot tell when those pushes are done. Before, a node that had just joined was at once among
the closest to some keys, and a request for one of them (a rendezvous asked for its subscribers) was
answered from its empty store: a publish in that window missed the key's subscribers. Now the
newcomer asks its ``k`` nearest nodes for its welcome (``dht.welcome``, counted as ``bootstrap``
requests: they are part of joining); each answers once it has stored on the newcomer what it should,
and a node that welcomed it already answers at once. Until all
have answered or failed, :attr:`Welcomes.welcomed` is False, and layers above treat a key this node
holds nothing under as one it does not hold (it answers with closer nodes).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from synthswarm.swarm.dht._node.replication import Replication
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.tasks import TaskSet

__all__ = ["WELCOME_TOPIC", "Welcomes"]

WELCOME_TOPIC = "dht.welcome"
_REMEMBERED = 4096
"""Newcomers remembered as welcomed, so that asking for a welcome already given costs no stores."""

AskFn = Callable[[Contact], Awaitable[bytes]]


class Welcomes:
    """One node's welcomes: given to newcomers once each, and asked for when it joins."""

    def __init__(self, replication: Replication, tasks: TaskSet) -> None:
        self._replication = replication
        self._tasks = tasks
        self._running: dict[bytes, asyncio.Task[None]] = {}
        self._given: OrderedDict[bytes, None] = OrderedDict()
        self.welcomed = True
        """False from the start of joining until the nearest nodes answered its welcome requests (a
        node that joins no one is the swarm's first: it has nothing to wait for)."""

    def give(self, contact: Contact, *, again: bool = False) -> asyncio.Task[None] | None:
        """Store on ``contact`` the records it should now hold (:meth:`Replication.welcome`), once:
        a welcome under way is shared, and one already given is not given again unless ``again``
        (the contact is new to the routing table: it may have left and come back empty)."""
        if again:
            self._given.pop(contact.node_id, None)
        elif contact.node_id in self._given:
            return None
        task = self._running.get(contact.node_id)
        if task is None:
            task = self._tasks.spawn(self._give(contact), name="welcome")
            self._running[contact.node_id] = task
        return task

    async def _give(self, contact: Contact) -> None:
        try:
            await self._replication.welcome(contact)
            self._given[contact.node_id] = None
            self._given.move_to_end(contact.node_id)
            while len(self._given) > _REMEMBERED:
                self._given.popitem(last=False)
        finally:
            self._running.pop(contact.node_id, None)

    async def on_request(self, sender: Contact, _: bytes) -> bytes:
        """Serve ``dht.welcome``: answer once ``sender`` holds what this node should store on it."""
        task = self.give(sender)
        if task is not None:
            await asyncio.shield(task)
        return b""

    async def ask(self, nearest: Sequence[Contact], ask: AskFn) -> int:
        """Joining: ask each of ``nearest`` for this node's welcome, and wait until every one has
        answered or failed. Returns how many answered."""
        answers = await asyncio.gather(*(ask(c) for c in nearest), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, DHTError):
                raise answer
        return sum(not isinstance(a, BaseException) for a in answers)
