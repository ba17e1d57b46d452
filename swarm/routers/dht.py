"""DHTRouter: rendezvous publish/subscribe over the Kademlia DHT (as Scribe over Pastry).

Subscribe: for each interest vector, the agent stores a subscription record (who, where, the vector
in int8) under its bucket's key in every LSH table; the ``replicas`` nodes closest to a key hold its
records and are its rendezvous. Records expire unless re-announced, so departed agents fade out.

The key space grows with the swarm, where it must: a key whose rendezvous hold as many records as
their store allows refuses more, and the refused subscriber stores its row one level down, in the
bucket split by one more hyperplane (:meth:`SemanticHasher.spill`), and deeper while that is full.
A rendezvous that is full, or refused a subscriber for it within the hour, says so in its answer, and
the publisher then asks the level below on its own side of that hyperplane. A small swarm never
spills, so it pays nothing for this; a subscription no level keeps is an error the subscriber sees.

Publish: the publisher computes the packet's keys (own bucket plus multi-probe neighbours in every
table). Keys it is itself a rendezvous of cost nothing. For the rest it picks, from its routing table,
the fewest contacts that are among the k closest of every key (greedy set cover: with k=20 replicas a
node is rendezvous of many keys in a small swarm) and sends each one ``semantic.rendezvous`` request
naming all of its keys. A key the contact does not hold is answered with closer contacts, and the
publisher walks on towards it one request at a time. Each rendezvous re-ranks its
subscribers by exact cosine against the packet's embedding and answers with its best ``m`` above the
threshold. The publisher merges the answers and delivers the packet to the global best ``m``.

The rendezvous side, which answers those requests on every node, is
:mod:`synthswarm.swarm.routers._rendezvous`; the messages are :mod:`synthswarm.swarm.routers._messages`.

GUIDE section 4 had each rendezvous forward to its own best m; merging at the publisher instead sends
each packet to m agents rather than up to (keys x m) with duplicates, and ranks across tables.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import Contact, DHTNode, PutResult, distance
from synthswarm.swarm.dht.messages import MAX_CONTACTS
from synthswarm.swarm.dht.storage import KEY_FULL
from synthswarm.swarm.errors import ConfigError, DHTError, SubscriptionLostError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.packet import CompactEmbedding, EmbeddingDType, OutcomePacket, PacketKind
from synthswarm.swarm.routers._base import (
    DeliverFn,
    DeliveryReport,
    Outcome,
    RouterStats,
    traced_publish,
)
from synthswarm.swarm.routers._messages import (
    MAX_KEYS,
    Candidate,
    Candidates,
    Closer,
    RendezvousQuery,
    RendezvousRequest,
    Subscription,
    decode_rendezvous_replies,
)
from synthswarm.swarm.routers._outbox import Outbox, PendingDelivery
from synthswarm.swarm.routers._rendezvous import RENDEZVOUS_TOPIC, holds, serve_rendezvous
from synthswarm.swarm.semantic import SemanticHasher, TopicKey

__all__ = ["RENDEZVOUS_TOPIC", "DHTRouter", "DHTRouterSettings", "serve_rendezvous", "spilled_keys"]


@dataclass(frozen=True)
class DHTRouterSettings:
    m: int = 10
    """Agents each packet is delivered to (at most)."""
    threshold: float = 0.0
    """Least cosine similarity for a delivery."""
    subscription_ttl_s: int = 3600
    max_hops: int = 12
    """Most rendezvous requests one key may take before the publisher gives up on it."""
    query_probes: int | None = 0
    """Multi-probe buckets per table for query packets (None: as the hasher probes every packet).
    A query is asked again in rounds and its answers come back whatever the bucket, so the extra
    probes that help a finding reach its few best readers cost more than they find for a query."""
    outbox_capacity: int = 10_000
    """Deliveries kept for retry when their receiver was unreachable (see :meth:`DHTRouter.retry_pending`)."""
    replicas: int = 8
    """Rendezvous nodes that hold each interest row (the closest this many to its key; at most the
    DHT's k). Every agent of a swarm must use the same value: publishers ask only these nodes."""
    store_confirm: int | None = 1
    """Subscribing ends its lookup of a key once this many of the closest nodes have answered (None:
    all ``replicas`` of them), and the STOREs' answers confirm the rest: the nearest node to a key
    knows its neighbourhood, so one answer from it names the holders."""
    subscribe_retries: int = 2
    """Times an interest row's put is tried again when no rendezvous node answered it at all (a busy
    or briefly unreachable neighbourhood), before the row counts as lost. Refusals are not retried."""
    subscribe_retry_backoff_s: float = 0.5
    """Wait before the first retry; each further retry waits twice as long."""

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= MAX_CONTACTS:
            raise ConfigError("router.replicas", f"must be in 1..{MAX_CONTACTS}, got {self.replicas}")
        if self.subscribe_retries < 0:
            raise ConfigError("router.subscribe_retries", f"must be at least 0, got {self.subscribe_retries}")
        if self.subscribe_retry_backoff_s < 0:
            backoff = self.subscribe_retry_backoff_s
            raise ConfigError("router.subscribe_retry_backoff_s", f"must be at least 0, got {backoff}")


class DHTRouter:
    """The ``dht`` strategy. ``hasher`` (its LSH settings and centre) must be the same on every node."""

    name = "dht"

    def __init__(self, hasher: SemanticHasher, settings: DHTRouterSettings | None = None) -> None:
        self.hasher = hasher
        self.settings = settings or DHTRouterSettings()
        self._stats = RouterStats()
        self._home: dict[bytes, DHTNode] = {}
        self._rows: dict[bytes, list[bytes]] = {}
        self._placed: dict[bytes, dict[int, list[bytes]]] = {}
        """By agent, by interest row: the keys the row is stored under (spilled levels included)."""
        self.outbox = Outbox(self.settings.outbox_capacity)

    def stats(self) -> RouterStats:
        return self._stats

    def serve(self, node: DHTNode) -> None:
        """Make ``node`` answer rendezvous requests (every node of the swarm should)."""
        serve_rendezvous(node)

    async def subscribe(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, *, node: DHTNode
    ) -> None:
        """Store the agent's interest rows at their rendezvous. Subscribing again replaces the rows:
        only rows that changed are stored again, so adding an open task costs one row's puts, and a
        row that moved to other keys, or is no longer among the rows, is withdrawn from the keys it
        left (as :meth:`unsubscribe` withdraws them all).

        Raises :class:`SubscriptionLostError` when no rendezvous node of some row's key kept it (every
        one refused, at a cap, or none answered); the other rows stay stored, and both the refusals
        and the loss are counted in :meth:`stats`."""
        self.serve(node)
        NodeHost.on(node).add(agent_id, deliver, self._stats)
        self._home[agent_id] = node
        vectors = np.atleast_2d(np.asarray(interests, np.float32))
        before = self._rows.get(agent_id, [])
        rows = [encode(Subscription.of(agent_id, node.contact, vector)) for vector in vectors]
        self._rows[agent_id] = rows
        placed = self._placed.setdefault(agent_id, {})
        puts, where = [], []
        for index, (vector, record) in enumerate(zip(vectors, rows, strict=True)):
            if index < len(before) and before[index] == record:
                continue
            for topic in self.hasher.own_keys(vector):
                puts.append(self._put_row(node, topic, vector, record, _subkey(agent_id, index)))
                where.append(index)
        lost, refused = 0, list[str]()
        now: dict[int, list[bytes]] = {}
        for index, (key, why) in zip(where, await asyncio.gather(*puts), strict=True):
            refused += why
            lost += key is None
            if key is not None:
                now.setdefault(index, []).append(key)
        moved = set(where) | {i for i in placed if i >= len(rows)}  # rows put again, or gone
        left = [(i, key) for i in moved for key in placed.pop(i, []) if key not in now.get(i, ())]
        placed.update(now)
        await self._withdraw(node, agent_id, left)
        if lost:
            self._stats.subscriptions_lost += lost
            reasons = ", ".join(sorted(set(refused))) or "no rendezvous node answered"
            raise SubscriptionLostError(
                f"{lost} of {len(puts)} subscription records of agent {agent_id.hex()[:8]} were kept by "
                f"no rendezvous node ({reasons})",
                lost=lost,
                refused=tuple(refused),
            )

    async def _put_row(
        self, node: DHTNode, topic: TopicKey, vector: npt.NDArray[np.float32], record: bytes, subkey: bytes
    ) -> tuple[bytes | None, list[str]]:
        """Store one interest row under ``topic``; when every holder refuses it for being full, one
        level down (the bucket split by one more hyperplane), and so on. (the key it is stored
        under, None if none kept it; refusals)."""
        refused: list[str] = []
        at: TopicKey | None = topic
        while at is not None:
            result = await self._put_once(node, at.key, record, subkey)
            refused += result.refused
            if result.stored:
                return at.key, refused
            if not result.refused or any(r != KEY_FULL for r in result.refused):
                return None, refused  # not for being full: one level down would not help
            at = self.hasher.spill(vector, at)
            self._stats.subscriptions_spilled += at is not None
        return None, refused

    async def unsubscribe(self, agent_id: bytes) -> None:
        """Withdraw the agent: this node stops taking packets for it at once, its pending deliveries
        are dropped, and each of its interest rows is overwritten at its rendezvous with a tombstone
        (:meth:`DHTNode.withdraw`), which ranks nowhere; the requests are counted in
        ``unsubscribe_messages``. A rendezvous that missed the tombstone serves the row until its
        TTL (``subscription_ttl_s``) ends, and a delivery to it is then refused by the agent's node."""
        node = self._home.pop(agent_id, None)
        if node is None:
            return
        NodeHost.on(node).remove(agent_id)
        self._rows.pop(agent_id, None)
        self.outbox.drop(agent_id)
        placed = self._placed.pop(agent_id, {})
        await self._withdraw(node, agent_id, [(i, key) for i, keys in placed.items() for key in keys])
        self._stats.unsubscribed += 1

    async def _withdraw(self, node: DHTNode, agent_id: bytes, rows: list[tuple[int, bytes]]) -> None:
        """Withdraw each (row index, key) of ``agent_id``'s subscription records."""
        s = self.settings

        async def one(index: int, key: bytes) -> None:
            subkey = _subkey(agent_id, index)
            result = await node.withdraw(key, subkey=subkey, ttl_s=s.subscription_ttl_s, replicas=s.replicas)
            self._stats.unsubscribe_messages += result.lookup.rpcs + result.sent

        await asyncio.gather(*(one(index, key) for index, key in rows))

    async def _put_once(self, node: DHTNode, key: bytes, record: bytes, subkey: bytes) -> PutResult:
        """One put of an interest row, tried again (``subscribe_retries``, with backoff) while no
        rendezvous node answered at all: on a loaded machine a whole neighbourhood can miss its
        timeouts for a moment, and that row would otherwise be lost until it is re-announced."""
        s = self.settings
        wait = s.subscribe_retry_backoff_s
        for attempt in range(s.subscribe_retries + 1):
            if attempt:
                self._stats.subscription_retries += 1
                await asyncio.sleep(wait)
                wait *= 2
            result = await node.put(
                key, record, subkey=subkey, ttl_s=s.subscription_ttl_s, replicas=s.replicas,
                confirm=s.store_confirm, full_first=True,
            )  # fmt: skip
            self._stats.subscribe_messages += result.lookup.rpcs + result.sent
            self._stats.subscription_stores_refused += len(result.refused)
            if result.stored or result.refused:
                break
        return result

    @traced_publish
    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        node = self._home.get(publisher)
        if node is None:
            raise DHTError("the publisher must subscribe (join the router) before it publishes")
        query = packet.embedding.to_array()
        emb = packet.embedding
        if emb.dtype is not EmbeddingDType.INT8:
            emb = CompactEmbedding.from_vector(emb.to_array())
        s = self.settings
        request = encode(RendezvousQuery(emb.data, emb.scale, s.m, float(s.threshold), s.replicas))
        probes = self.settings.query_probes if packet.kind is PacketKind.QUERY else None
        topics = {t.key: t for t in self.hasher.keys(query, probes=probes)}
        answers = await self._ask_all(node, list(topics), request)
        level = answers
        while level:  # a full rendezvous sent some subscribers one level down: ask there too
            fresh = spilled_keys(self.hasher, query, topics, [a.key for a in level if a.overflow])
            level = await self._ask_all(node, fresh, request) if fresh else []
            answers += level
        best: dict[bytes, Candidate] = {}
        for answer in answers:
            for c in answer.candidates:
                if c.agent_id != publisher and (c.agent_id not in best or c.score > best[c.agent_id].score):
                    best[c.agent_id] = c
        chosen = sorted(best.values(), key=lambda c: -c.score)[: self.settings.m]
        host = NodeHost.on(node)
        delivered = await asyncio.gather(*(self._deliver(host, c, packet) for c in chosen))
        messages = sum(a.sent for a in answers) + sum(1 for c in chosen if not host.is_self(c.contact))
        self._stats.packets += 1
        self._stats.messages += messages
        hops = max((a.hops for a in answers), default=0)
        return DeliveryReport.of(packet.id, [c.agent_id for c in chosen], delivered, messages, hops)

    async def _deliver(self, host: NodeHost, c: Candidate, packet: OutcomePacket) -> Outcome:
        outcome = await host.deliver(c.contact, c.agent_id, packet, category="semantic")
        if outcome is None:
            self.outbox.add(PendingDelivery(packet, c.agent_id, c.contact, host.node.node_id))
            return Outcome.MISSED
        return outcome

    async def retry_pending(self) -> int:
        """Retry the deliveries whose receivers were unreachable (dead, partitioned away, busy);
        returns how many got through. Call it now and then, e.g. after a partition heals."""
        nodes = {n.node_id: n for n in self._home.values()}

        async def send(d: PendingDelivery) -> Outcome | None:
            node = nodes.get(d.publisher_node)
            if node is None:
                return Outcome.MISSED  # the publisher's node has left: nothing to send from
            return await NodeHost.on(node).deliver(d.contact, d.agent_id, d.packet, category="semantic")

        return await self.outbox.retry(send)

    async def _ask_all(self, node: DHTNode, keys: list[bytes], query: bytes) -> list[_Answer]:
        """Ask the rendezvous of every key, in as few requests as the routing table allows: this node
        answers the keys it holds itself, at no cost."""
        replicas = self.settings.replicas
        local = [k for k in keys if holds(node, k, replicas)]
        out: list[_Answer] = []
        if local:
            serve_rendezvous(node)
            replies = await _ask_rendezvous(NodeHost.on(node), node.contact, local, query)
            out += [_Answer.of(k, answer, 0, 0) for k, answer in zip(local, replies, strict=True)]
        plan = _cover(node, [k for k in keys if k not in set(local)], replicas)
        out += [
            a
            for batch in await asyncio.gather(*(self._batch(node, c, ks, query) for c, ks in plan))
            for a in batch
        ]
        return out

    async def _batch(self, node: DHTNode, contact: Contact, keys: list[bytes], query: bytes) -> list[_Answer]:
        """One request naming ``keys`` to ``contact``; keys it does not hold are walked on from the
        closer contacts it names."""
        host = NodeHost.on(node)
        try:
            answers = await _ask_rendezvous(host, contact, keys, query)
        except DHTError:
            answers = [Closer(()) for _ in keys]  # dead or refusing: walk each key from scratch
        out: list[_Answer] = []
        for i, (key, answer) in enumerate(zip(keys, answers, strict=True)):
            sent = 1 if i == 0 else 0  # the batch request is counted once, with its first key
            if isinstance(answer, Candidates):
                out.append(_Answer.of(key, answer, sent, 1))
                continue
            closer = [c for c in answer.contacts if not host.is_self(c) and c.node_id != contact.node_id]
            walked = await self._ask(host, key, query, closer, {contact.node_id})
            out.append(_Answer(key, walked.candidates, sent + walked.sent, 1 + walked.hops, walked.overflow))
        return out

    async def _ask(
        self, host: NodeHost, key: bytes, query: bytes, start: list[Contact], tried: set[bytes]
    ) -> _Answer:
        """Walk towards ``key`` until a rendezvous answers."""
        queue = sorted(start or host.node.table.closest(key, 3), key=lambda c: distance(c.node_id, key))
        tried = set(tried)
        sent = 0
        while queue and sent < self.settings.max_hops:
            contact = queue.pop(0)
            if contact.node_id in tried:
                continue
            tried.add(contact.node_id)
            sent += 1
            try:
                [answer] = await _ask_rendezvous(host, contact, [key], query)
            except DHTError:
                continue  # dead, refusing or garbled: try the next closest
            if isinstance(answer, Candidates):
                return _Answer.of(key, answer, sent, sent)
            closer = [c for c in answer.contacts if c.node_id not in tried and not host.is_self(c)]
            queue = sorted(closer + queue, key=lambda c: distance(c.node_id, key))
        return _Answer(key, [], sent, sent, False)


def spilled_keys(
    hasher: SemanticHasher, query: npt.NDArray[np.float32], topics: dict[bytes, TopicKey], full: list[bytes]
) -> list[bytes]:
    """The keys a publisher of ``query`` asks next, one level below those of ``full`` (keys of
    ``topics`` whose rendezvous overflowed), adding them to ``topics``; keys already asked are not
    asked again.

    Only the packet's own buckets (probe 0) and the levels below them are followed down. A probe
    bucket (a weak bit flipped) is the speculative part of the ask, and following it down doubles
    the speculation: in ``bench routing`` at N=2,048 with keys spilling as at N=16,384, the spilled
    levels of probe buckets were a sixth of the keys asked and the only source of 7 of 1,949
    deliveries to a nearest agent. The simulator's ``recall_bound`` asks by this rule too."""
    deeper = [hasher.spill(query, topics[key]) for key in full if topics[key].probe == 0]
    fresh = {t.key: t for t in deeper if t is not None and t.key not in topics}
    topics.update(fresh)
    return list(fresh)


def _subkey(agent_id: bytes, index: int) -> bytes:
    """The subkey of an agent's ``index``-th interest row: one record per row under each key."""
    return agent_id[:24] + index.to_bytes(2, "big")


async def _ask_rendezvous(
    host: NodeHost, to: Contact, keys: list[bytes], query: bytes
) -> list[Candidates | Closer]:
    """One ``semantic.rendezvous`` request from ``host``'s node for ``keys``: an answer per key."""
    return await host.request(
        to, RENDEZVOUS_TOPIC, RendezvousRequest(tuple(keys), query),
        lambda reply: decode_rendezvous_replies(reply, len(keys)), category="semantic",
    )  # fmt: skip


@dataclass(frozen=True)
class _Answer:
    """What asking one key's rendezvous brought: its best subscribers, the requests it took, the
    longest walk, and whether the key overflowed (so its spill level must be asked too)."""

    key: bytes
    candidates: list[Candidate]
    sent: int
    hops: int
    overflow: bool

    @classmethod
    def of(cls, key: bytes, answer: Candidates | Closer, sent: int, hops: int) -> _Answer:
        """The answer of a rendezvous that holds ``key`` (one that says closer offers no one)."""
        if isinstance(answer, Closer):
            return cls(key, [], sent, hops, False)
        return cls(key, list(answer.candidates), sent, hops, answer.overflowed)


def _cover(node: DHTNode, keys: list[bytes], replicas: int) -> list[tuple[Contact, list[bytes]]]:
    """Contacts to ask and the keys each should answer for: greedily, the contact that is among the
    ``replicas`` closest (as this node's table knows them) of the most keys not yet covered."""
    holders = {key: node.table.closest(key, replicas) for key in keys}
    left = set(keys)
    plan: list[tuple[Contact, list[bytes]]] = []
    while left:
        counts: dict[Contact, list[bytes]] = {}
        for key in keys:
            if key in left:
                for contact in holders[key]:
                    counts.setdefault(contact, []).append(key)
        if not counts:
            break  # an empty routing table: nothing to ask
        contact, covered = max(counts.items(), key=lambda item: (len(item[1]), -keys.index(item[1][0])))
        plan.append((contact, covered[:MAX_KEYS]))
        left -= set(covered[:MAX_KEYS])
    return plan
