"""The iterative node lookup (Kademlia section 2.3).

Keep ``alpha`` queries in flight to the closest contacts not yet asked; fold every answer's contacts
into the shortlist; stop when the ``k`` closest contacts seen have all answered (or, looking for a
value, as soon as one holder returns records). Contacts that fail drop out of the shortlist.

A lookup made to STORE on what it finds may stop sooner, once the ``confirm`` closest have answered:
a node that near the target knows its neighbourhood (its low buckets hold every node there), so its
answer names the k closest, and the STOREs that follow show which of them are alive. Where buckets
hold at least twice k (``trust_neighbours``), it stops sooner still, once any node that answered is
itself among the k closest by its own answer (fewer than k of the contacts it names are nearer the
target): the nodes nearer the target than it lie within twice its distance of it, in its low
buckets, and the fullest of those holds about as many nodes as lie nearer the target than it does
(fewer than k), so buckets of at least 2k keep all of them. (Trusting answerers among the 2k
closest saved more requests but cost recall in ``bench routing``: 0.944 against 0.964 at N=1,024.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from synthswarm.swarm.dht.ids import Contact, distance
from synthswarm.swarm.dht.messages import MAX_CONTACTS, Record
from synthswarm.swarm.errors import DHTError

__all__ = ["LookupResult", "QueryAnswer", "iterative_lookup"]


@dataclass(frozen=True)
class QueryAnswer:
    contacts: tuple[Contact, ...]
    records: tuple[Record, ...] = ()


@dataclass(frozen=True)
class LookupResult:
    """The k closest live contacts found, nearest first, and what the lookup cost. With ``confirm``
    below k, the contacts past the first ``confirm`` may not have been asked (they are not known dead)."""

    target: bytes
    contacts: tuple[Contact, ...]
    hops: int
    rpcs: int
    failures: int
    records: tuple[Record, ...] = ()
    holder: Contact | None = None


@dataclass
class _State:
    target: bytes
    k: int
    shortlist: dict[bytes, Contact] = field(default_factory=dict)
    distances: dict[bytes, int] = field(default_factory=dict)
    """Each shortlisted contact's distance from the target, computed once (the shortlist is sorted
    on every turn of the lookup)."""
    depth: dict[bytes, int] = field(default_factory=dict)
    asked: set[bytes] = field(default_factory=set)
    answered: set[bytes] = field(default_factory=set)
    failed: set[bytes] = field(default_factory=set)
    records: tuple[Record, ...] = ()
    holder: Contact | None = None
    extra_rpcs: int = 0
    neighbourhood: bool = False
    """Some answerer is among the k closest by its own answer (see the module docstring)."""
    trust_neighbours: bool = False

    def offer(self, contact: Contact, depth: int) -> None:
        if contact.node_id not in self.shortlist:
            self.shortlist[contact.node_id] = contact
            self.distances[contact.node_id] = distance(contact.node_id, self.target)
            self.depth[contact.node_id] = depth

    def absorb(self, contact: Contact, task: asyncio.Task[QueryAnswer], own_id: bytes) -> None:
        """Fold one finished query into the state."""
        try:
            answer = task.result()
        except DHTError:
            self.failed.add(contact.node_id)
            return
        self.answered.add(contact.node_id)
        if self.trust_neighbours and not self.neighbourhood:
            mine = distance(contact.node_id, self.target)
            self.neighbourhood = (
                sum(distance(c.node_id, self.target) < mine for c in answer.contacts) < self.k
            )
        for learned in answer.contacts:
            if learned.node_id != own_id:
                self.offer(learned, self.depth[contact.node_id] + 1)
        if answer.records and not self.records:
            self.records, self.holder = answer.records, contact

    def result(self, confirmed_only: bool = True) -> LookupResult:
        live = [c for c in self.closest_live() if c.node_id in self.answered or not confirmed_only]
        reached = self.holder or (live[0] if live else None)
        hops = self.depth[reached.node_id] if reached else 0
        return LookupResult(
            self.target,
            tuple(live),
            hops,
            len(self.asked) + self.extra_rpcs,
            len(self.failed),
            self.records,
            self.holder,
        )

    def closest_live(self) -> list[Contact]:
        live = [i for i in self.shortlist if i not in self.failed]
        live.sort(key=self.distances.__getitem__)
        return [self.shortlist[i] for i in live[: self.k]]


async def iterative_lookup(
    target: bytes,
    seeds: list[Contact],
    query: Callable[[Contact, int], Awaitable[QueryAnswer]],
    *,
    own_id: bytes,
    k: int,
    alpha: int,
    want_value: bool = False,
    confirm: int | None = None,
    trust_neighbours: bool = False,
) -> LookupResult:
    state = _State(target, k)
    settle = k if confirm is None else max(1, min(confirm, k))
    state.trust_neighbours = trust_neighbours and settle < k
    for seed in seeds:
        state.offer(seed, 1)
    in_flight: dict[asyncio.Task[QueryAnswer], Contact] = {}
    top_ups = 0
    try:
        while not (want_value and state.records):
            if state.neighbourhood:
                break
            ranked = state.closest_live()
            waiting = [c for c in ranked[:settle] if c.node_id not in state.asked]
            if not waiting and not in_flight:
                # Every one of the k closest seen has answered. If some contacts were dead, the
                # answers may have spent their k places on them: ask the nearest answerers once
                # more for k + (dead seen) contacts, so live nodes beyond the dead ones surface.
                spares = [c for c in ranked if c.node_id in state.answered][:alpha]
                if not state.failed or len(ranked) - len(state.failed) >= k or top_ups >= _MAX_TOP_UPS:
                    break
                if not spares:
                    break
                top_ups += 1
                before = len(state.shortlist)
                await _top_up(state, spares, query, own_id)
                if len(state.shortlist) == before:
                    break
                continue
            count = min(MAX_CONTACTS, k + len(state.failed))
            while waiting and len(in_flight) < alpha:
                contact = waiting.pop(0)
                state.asked.add(contact.node_id)
                in_flight[asyncio.ensure_future(query(contact, count))] = contact
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                state.absorb(in_flight.pop(task), task, own_id)
    finally:
        await _cancel(in_flight)
    return state.result(confirmed_only=settle >= k)


_MAX_TOP_UPS = 2


async def _top_up(
    state: _State,
    spares: list[Contact],
    query: Callable[[Contact, int], Awaitable[QueryAnswer]],
    own_id: bytes,
) -> None:
    count = min(MAX_CONTACTS, state.k + len(state.failed))
    tasks = {asyncio.ensure_future(query(c, count)): c for c in spares}
    state.extra_rpcs += len(tasks)
    await asyncio.wait(tasks)
    for task, contact in tasks.items():
        state.absorb(contact, task, own_id)


async def _cancel(in_flight: dict[asyncio.Task[QueryAnswer], Contact]) -> None:
    for task in in_flight:
        task.cancel()
    for task in in_flight:
        with contextlib.suppress(asyncio.CancelledError, DHTError):
            await task
