"""The strategies the DHT router is measured against, behind the same Router protocol.

- ``isolated``: nothing is shared; every agent works alone.
- ``broadcast``: every packet goes to every other agent (N - 1 deliveries).
- ``hub``: one central node keeps every subscription; a publisher sends it the packet and the hub
  delivers to the exact best ``m`` (perfect recall, but one node carries everything).
- ``gossip``: each node that receives a packet hands it to its agents and forwards it to ``fanout``
  random contacts, splitting a message budget that is set to match another router's cost. Each
  forward answers when its subtree is done, with the forwards sent below it and the agents reached,
  so the publisher's report counts every message the packet cost. A forward sent again by the same
  node (its answer was slow, so the RPC was retried) gets the first forward's answer, not the empty
  answer of a duplicate: the agents its subtree reached, and the replies they promised, stay in the
  report.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import Contact, DHTNode
from synthswarm.swarm.errors import DHTError, PacketError, ProtocolError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.packet import OutcomePacket, decode_packet
from synthswarm.swarm.routers._base import (
    DeliverFn,
    DeliveryReport,
    Outcome,
    RouterStats,
    Subscriber,
    traced_publish,
)
from synthswarm.swarm.routers._messages import (
    GossipForward,
    GossipSpread,
    HubDelivered,
    HubPublish,
    HubSubscribe,
    Reached,
    decode_gossip_forward,
    decode_gossip_spread,
    decode_hub_delivered,
    decode_hub_publish,
    decode_hub_subscribe,
)

__all__ = ["BroadcastRouter", "GossipRouter", "HubRouter", "IsolatedRouter"]

HUB_SUBSCRIBE = "hub.subscribe"
HUB_PUBLISH = "hub.publish"
GOSSIP_TOPIC = "gossip.forward"
_CONCURRENCY = 64


class _Hosting:
    """Agents by id, the node each lives on, and which of them live on each node."""

    def __init__(self) -> None:
        self._stats = RouterStats()
        self.subscribers: dict[bytes, Subscriber] = {}
        self.home: dict[bytes, DHTNode] = {}
        self.local: dict[bytes, dict[bytes, None]] = {}
        """By node id: this router's agents living there, in the order they came (a set with order)."""

    def stats(self) -> RouterStats:
        return self._stats

    def host(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, node: DHTNode
    ) -> Subscriber:
        NodeHost.on(node).add(agent_id, deliver, self._stats)
        self.home[agent_id] = node
        self.local.setdefault(node.node_id, {})[agent_id] = None
        vectors = np.atleast_2d(np.asarray(interests, np.float32))
        subscriber = Subscriber(agent_id, node.contact, vectors)
        self.subscribers[agent_id] = subscriber
        return subscriber

    async def subscribe(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, *, node: DHTNode
    ) -> None:
        """Host the agent; strategies that need more (an index, a handler) extend this."""
        self.host(agent_id, interests, deliver, node)

    async def unsubscribe(self, agent_id: bytes) -> None:
        """Stop hosting the agent; strategies that hold more (an index) extend this."""
        self.leave(agent_id)

    def leave(self, agent_id: bytes) -> DHTNode | None:
        """Forget the agent here and on its node; the node it lived on (None: not subscribed)."""
        node = self.home.pop(agent_id, None)
        if node is None:
            return None
        NodeHost.on(node).remove(agent_id)
        self.subscribers.pop(agent_id, None)
        self.local.get(node.node_id, {}).pop(agent_id, None)
        self._stats.unsubscribed += 1
        return node

    def publisher_node(self, publisher: bytes) -> DHTNode:
        node = self.home.get(publisher)
        if node is None:
            raise DHTError("the publisher must subscribe (join the router) before it publishes")
        return node

    async def deliver(self, node: DHTNode, subscriber: Subscriber, packet: OutcomePacket) -> Outcome:
        host = NodeHost.on(node)
        outcome = await host.deliver(subscriber.contact, subscriber.agent_id, packet, category="deliver")
        return Outcome.MISSED if outcome is None else outcome

    async def deliver_many(
        self, node: DHTNode, targets: list[Subscriber], packet: OutcomePacket
    ) -> list[Outcome]:
        results: list[Outcome] = []
        for start in range(0, len(targets), _CONCURRENCY):
            chunk = targets[start : start + _CONCURRENCY]
            results.extend(await asyncio.gather(*(self.deliver(node, s, packet) for s in chunk)))
        return results


class IsolatedRouter(_Hosting):
    """No sharing at all: the floor every other strategy is measured from."""

    name = "isolated"

    @traced_publish
    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        self.publisher_node(publisher)
        self._stats.packets += 1
        return DeliveryReport(packet.id, (), 0, 0)


class BroadcastRouter(_Hosting):
    """Every packet to every other agent."""

    name = "broadcast"

    @traced_publish
    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        node = self.publisher_node(publisher)
        targets = [s for a, s in self.subscribers.items() if a != publisher]
        ok = await self.deliver_many(node, targets, packet)
        host = NodeHost.on(node)
        messages = sum(1 for s in targets if not host.is_self(s.contact))
        self._stats.packets += 1
        self._stats.messages += messages
        return DeliveryReport.of(packet.id, [s.agent_id for s in targets], ok, messages, 1)


class HubRouter(_Hosting):
    """One central node holds every subscription and ranks exactly."""

    name = "hub"

    def __init__(self, hub: DHTNode, *, m: int = 10, threshold: float = 0.0) -> None:
        super().__init__()
        self.hub = hub
        self.m = m
        self.threshold = threshold
        self._index: dict[bytes, Subscriber] = {}
        hub.register_app(HUB_SUBSCRIBE, self._on_subscribe)
        hub.register_app(HUB_PUBLISH, self._on_publish)

    async def subscribe(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, *, node: DHTNode
    ) -> None:
        subscriber = self.host(agent_id, interests, deliver, node)
        rows = subscriber.interests
        request = HubSubscribe(agent_id, rows.astype("<f4").tobytes(), rows.shape[0])
        host = NodeHost.on(node)
        await host.request(self.hub.contact, HUB_SUBSCRIBE, request, _nothing, category="hub")
        self._stats.subscribe_messages += not host.is_self(self.hub.contact)

    async def unsubscribe(self, agent_id: bytes) -> None:
        """Stop hosting the agent, and tell the hub to drop its rows (a subscription of no rows)."""
        node = self.leave(agent_id)
        if node is None:
            return
        host = NodeHost.on(node)
        leaving = HubSubscribe(agent_id, b"", 0)
        await host.request(self.hub.contact, HUB_SUBSCRIBE, leaving, _nothing, category="hub")
        self._stats.unsubscribe_messages += not host.is_self(self.hub.contact)

    @traced_publish
    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        host = NodeHost.on(self.publisher_node(publisher))
        pairs = await host.request(
            self.hub.contact, HUB_PUBLISH, HubPublish(publisher, packet.wire), decode_hub_delivered,
            category="hub", here=lambda: self._deliver_best(publisher, packet),
        )  # fmt: skip
        messages = 0 if host.is_self(self.hub.contact) else 1
        self._stats.packets += 1
        self._stats.messages += messages
        return DeliveryReport.of(packet.id, [a for a, _ in pairs], [o for _, o in pairs], messages, 1)

    async def _on_subscribe(self, sender: Contact, payload: bytes) -> bytes:
        request = decode_hub_subscribe(payload)
        if request.rows == 0 and not request.vectors:  # no rows: the agent left
            known = self._index.get(request.agent_id)
            if known is not None and known.contact.node_id != sender.node_id:
                raise ProtocolError("hub.subscribe: only the node an agent subscribed from withdraws it")
            self._index.pop(request.agent_id, None)
            return b""
        if request.rows < 1 or len(request.vectors) % (4 * request.rows):
            raise ProtocolError("hub.subscribe: vectors do not split into rows")
        vectors = np.frombuffer(request.vectors, dtype="<f4").reshape(request.rows, -1)
        self._index[request.agent_id] = Subscriber(request.agent_id, sender, vectors)
        return b""

    async def _on_publish(self, sender: Contact, payload: bytes) -> bytes:
        request = decode_hub_publish(payload)
        try:
            packet = decode_packet(request.packet)
        except PacketError as exc:
            raise ProtocolError(f"hub.publish: {exc}") from exc
        chosen = self._best(request.publisher, packet)
        ok = await self.deliver_many(self.hub, chosen, packet)
        return encode(HubDelivered(tuple(s.agent_id for s in chosen), tuple(ok)))

    async def _deliver_best(self, publisher: bytes, packet: OutcomePacket) -> list[tuple[bytes, Outcome]]:
        """What :meth:`_on_publish` does for a publisher on the hub's own node, on the packet itself."""
        chosen = self._best(publisher, packet)
        ok = await self.deliver_many(self.hub, chosen, packet)
        return [(s.agent_id, o) for s, o in zip(chosen, ok, strict=True) if o]

    def _best(self, publisher: bytes, packet: OutcomePacket) -> list[Subscriber]:
        """The ``m`` subscribers nearest the packet, above the threshold, publisher aside."""
        query = packet.embedding.to_array()
        scored = []
        for agent, sub in self._index.items():
            if agent == publisher or sub.interests.shape[1] != query.shape[0]:
                continue
            norms = np.linalg.norm(sub.interests, axis=1) * (np.linalg.norm(query) or 1.0)
            score = float(np.max(sub.interests @ query / np.where(norms == 0, 1, norms)))
            if score >= self.threshold:
                scored.append((score, sub))
        return [s for _, s in sorted(scored, key=lambda x: -x[0])[: self.m]]


@dataclass
class _Spread:
    messages: int
    reached: dict[bytes, Outcome]


def _nothing(_: bytes) -> None:
    """A subscription is answered with nothing."""


async def _forward(
    host: NodeHost, to: Contact, packet: bytes, budget: int
) -> tuple[int, dict[bytes, Outcome]]:
    """One gossip forward of ``packet`` with ``budget``: (forwards sent below it, agents reached)."""
    forward = GossipForward(packet, budget)
    return await host.request(to, GOSSIP_TOPIC, forward, decode_gossip_spread, category="gossip")


class GossipRouter(_Hosting):
    """Random forwarding under a fixed message budget per packet."""

    name = "gossip"

    def __init__(self, *, budget: int, fanout: int = 3, seed: int = 0) -> None:
        super().__init__()
        if budget < 1 or fanout < 1:
            raise ValueError("budget and fanout must be at least 1")
        self.budget = budget
        self.fanout = fanout
        self._rng = random.Random(seed)
        self._seen: dict[bytes, set[bytes]] = {}
        self._answered: dict[tuple[bytes, bytes], tuple[bytes, asyncio.Future[bytes]]] = {}
        """By (node id, packet id): the node that sent the first forward there, and its answer."""

    async def subscribe(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, *, node: DHTNode
    ) -> None:
        self.host(agent_id, interests, deliver, node)
        if GOSSIP_TOPIC not in node.app_topics():
            node.register_app(GOSSIP_TOPIC, lambda sender, payload: self._on_forward(node, sender, payload))

    @traced_publish
    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        """Spread ``packet``; each forward answers once its own subtree is done, so the report counts
        every forward of the packet and names every agent it reached."""
        node = self.publisher_node(publisher)
        self._seen.setdefault(node.node_id, set()).add(packet.id)
        spread = await self._spread(node, packet.wire, self.budget)
        self._stats.packets += 1
        self._stats.messages += spread.messages
        agents = list(spread.reached)
        return DeliveryReport.of(packet.id, agents, [spread.reached[a] for a in agents], spread.messages, 1)

    async def _on_forward(self, node: DHTNode, sender: Contact, payload: bytes) -> bytes:
        forward = decode_gossip_forward(payload)
        seen = self._seen.setdefault(node.node_id, set())
        try:
            packet = decode_packet(forward.packet)
        except PacketError as exc:
            raise ProtocolError(f"gossip: {exc}") from exc
        if packet.id in seen:
            first = self._answered.get((node.node_id, packet.id))
            if first is not None and first[0] == sender.node_id:
                return await asyncio.shield(first[1])  # the same forward, sent again: the same answer
            return encode(GossipSpread(0, ()))  # a duplicate spends its message but goes no further
        seen.add(packet.id)
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._answered[(node.node_id, packet.id)] = (sender.node_id, answer)
        try:
            answer.set_result(await self._reach(node, packet, forward))
        finally:
            if not answer.done():
                answer.set_result(encode(GossipSpread(0, ())))
        return answer.result()

    async def _reach(self, node: DHTNode, packet: OutcomePacket, forward: GossipForward) -> bytes:
        """Hand ``packet`` to the node's agents and spread it on: the encoded answer of the forward."""
        reached: dict[bytes, Outcome] = {}
        host = NodeHost.on(node)
        for agent in list(self.local.get(node.node_id, ())):
            reached[agent] = await host.deliver_local(agent, packet)  # verified above: not again
        spread = await self._spread(node, forward.packet, min(max(0, forward.budget), self.budget))
        reached.update(spread.reached)
        return encode(GossipSpread(spread.messages, tuple(Reached(a, o) for a, o in reached.items() if o)))

    async def _spread(self, node: DHTNode, packet_bytes: bytes, budget: int) -> _Spread:
        """Forward to up to ``fanout`` random contacts, splitting ``budget``: the forwards sent here
        and below, and the agents reached below."""
        contacts = list(node.table)
        out = _Spread(0, {})
        if budget <= 0 or not contacts:
            return out
        targets = self._rng.sample(contacts, min(self.fanout, budget, len(contacts)))
        share, extra = divmod(budget - len(targets), len(targets))
        host = NodeHost.on(node)
        budgets = [share + (1 if i < extra else 0) for i in range(len(targets))]
        sends = [_forward(host, c, packet_bytes, b) for c, b in zip(targets, budgets, strict=True)]
        out.messages = len(targets)
        for answer in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(answer, BaseException):
                continue  # a dead, refusing or garbled peer: its subtree is lost, as gossip loses it
            below, agents = answer
            out.messages += below
            out.reached.update(agents)
        return out
