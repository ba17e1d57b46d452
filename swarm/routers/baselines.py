"""The strategies the DHT router is measured against, behind the same Router protocol.

- ``isolated``: nothing is shared; every agent works alone.
- ``broadcast``: every packet goes to every other agent (N - 1 deliveries).
- ``hub``: one central node keeps every subscription; a publisher sends it the packet and the hub
  delivers to the exact best ``m`` (perfect recall, but one node carries everything).
- ``gossip``: each node that receives a packet hands it to its agents and forwards it to ``fanout``
  random contacts, splitting a message budget that is set to match another router's cost. Each
  forward answers when its subtree is done, with the forwards sent below it and the agents reached,
  so the publisher's report counts every message the packet cost.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from synthswarm.swarm._wire import expect_type, pack, unpack_untrusted
from synthswarm.swarm.dht import Contact, DHTNode
from synthswarm.swarm.errors import DHTError, PacketError, ProtocolError
from synthswarm.swarm.packet import OutcomePacket, decode_packet, encode_packet
from synthswarm.swarm.routers._base import (
    AgentHost,
    DeliverFn,
    DeliveryReport,
    Outcome,
    RouterStats,
    Subscriber,
    deliver_to,
    traced_publish,
)

__all__ = ["BroadcastRouter", "GossipRouter", "HubRouter", "IsolatedRouter"]

HUB_SUBSCRIBE = "hub.subscribe"
HUB_PUBLISH = "hub.publish"
GOSSIP_TOPIC = "gossip.forward"
_CONCURRENCY = 64
_MAX_REACHED = 4096
"""Most agents one gossip forward may claim to have reached (a bound on untrusted replies)."""


class _Hosting:
    """Agents by id, the node each lives on, and the delivery handlers of those nodes."""

    def __init__(self) -> None:
        self._stats = RouterStats()
        self.hosts: dict[bytes, AgentHost] = {}
        self.subscribers: dict[bytes, Subscriber] = {}
        self.home: dict[bytes, DHTNode] = {}

    def stats(self) -> RouterStats:
        return self._stats

    def host(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, node: DHTNode
    ) -> Subscriber:
        AgentHost.on(node, self._stats, self.hosts).add(agent_id, deliver)
        self.home[agent_id] = node
        vectors = np.atleast_2d(np.asarray(interests, np.float32))
        subscriber = Subscriber(agent_id, node.contact, vectors)
        self.subscribers[agent_id] = subscriber
        return subscriber

    async def subscribe(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, *, node: DHTNode
    ) -> None:
        """Host the agent; strategies that need more (an index, a handler) extend this."""
        self.host(agent_id, interests, deliver, node)

    def publisher_node(self, publisher: bytes) -> DHTNode:
        node = self.home.get(publisher)
        if node is None:
            raise DHTError("the publisher must subscribe (join the router) before it publishes")
        return node

    async def deliver(self, node: DHTNode, subscriber: Subscriber, packet: OutcomePacket) -> Outcome:
        return await deliver_to(node, self.hosts, subscriber.agent_id, subscriber.contact, packet, "deliver")

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
        messages = sum(1 for s in targets if s.contact.node_id != node.node_id)
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
        request = pack(
            [agent_id, subscriber.interests.astype("<f4").tobytes(), subscriber.interests.shape[0]]
        )
        if node.node_id == self.hub.node_id:
            await self._on_subscribe(node.contact, request)
        else:
            await node.app_request(self.hub.contact, HUB_SUBSCRIBE, request, category="hub")
            self._stats.subscribe_messages += 1

    @traced_publish
    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        node = self.publisher_node(publisher)
        request = pack([publisher, encode_packet(packet)])
        if node.node_id == self.hub.node_id:
            reply = await self._on_publish(node.contact, request)
            messages = 0
        else:
            reply = await node.app_request(self.hub.contact, HUB_PUBLISH, request, category="hub")
            messages = 1
        agents, outcomes = expect_type(
            unpack_untrusted(reply, ProtocolError), list, "delivered", ProtocolError
        )
        pairs = [
            (a, Outcome(o))
            for a, o in zip(
                expect_type(agents, list, "agents", ProtocolError),
                expect_type(outcomes, list, "outcomes", ProtocolError),
                strict=False,
            )
            if isinstance(a, bytes) and o in (1, 2)
        ]
        self._stats.packets += 1
        self._stats.messages += messages
        return DeliveryReport.of(packet.id, [a for a, _ in pairs], [o for _, o in pairs], messages, 1)

    async def _on_subscribe(self, sender: Contact, payload: bytes) -> bytes:
        agent_id, data, rows = expect_type(
            unpack_untrusted(payload, ProtocolError), list, "hub.subscribe", ProtocolError
        )
        vectors = np.frombuffer(expect_type(data, bytes, "vectors", ProtocolError), dtype="<f4")
        rows_n = expect_type(rows, int, "rows", ProtocolError)
        if rows_n < 1 or vectors.size % rows_n:
            raise ProtocolError("hub.subscribe: vectors do not split into rows")
        agent = expect_type(agent_id, bytes, "agent id", ProtocolError)
        self._index[agent] = Subscriber(agent, sender, vectors.reshape(rows_n, -1))
        return b""

    async def _on_publish(self, sender: Contact, payload: bytes) -> bytes:
        publisher, data = expect_type(
            unpack_untrusted(payload, ProtocolError), list, "hub.publish", ProtocolError
        )
        try:
            packet = decode_packet(expect_type(data, bytes, "packet", ProtocolError))
        except PacketError as exc:
            raise ProtocolError(f"hub.publish: {exc}") from exc
        query = packet.embedding.to_array()
        scored = []
        for agent, sub in self._index.items():
            if agent == publisher or sub.interests.shape[1] != query.shape[0]:
                continue
            norms = np.linalg.norm(sub.interests, axis=1) * (np.linalg.norm(query) or 1.0)
            score = float(np.max(sub.interests @ query / np.where(norms == 0, 1, norms)))
            if score >= self.threshold:
                scored.append((score, sub))
        chosen = [s for _, s in sorted(scored, key=lambda x: -x[0])[: self.m]]
        ok = await self.deliver_many(self.hub, chosen, packet)
        return pack([[s.agent_id for s in chosen], [int(o) for o in ok]])


@dataclass
class _Spread:
    messages: int
    reached: dict[bytes, Outcome]


def _decode_spread(reply: bytes) -> tuple[int, dict[bytes, Outcome]]:
    """A forward's answer: (forwards sent below it, {agent: outcome} for agents reached there)."""
    below, agents = expect_type(unpack_untrusted(reply, ProtocolError), list, "gossip reply", ProtocolError)
    count = expect_type(below, int, "gossip count", ProtocolError)
    reached: dict[bytes, Outcome] = {}
    for item in expect_type(agents, list, "gossip agents", ProtocolError)[:_MAX_REACHED]:
        agent, outcome = expect_type(item, list, "gossip agent", ProtocolError)
        try:
            reached[expect_type(agent, bytes, "agent id", ProtocolError)] = Outcome(outcome)
        except ValueError as exc:
            raise ProtocolError("gossip reply: unknown outcome") from exc
    return max(0, count), reached


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

    async def subscribe(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, *, node: DHTNode
    ) -> None:
        self.host(agent_id, interests, deliver, node)
        if GOSSIP_TOPIC not in node.app_topics():
            node.register_app(GOSSIP_TOPIC, lambda sender, payload: self._on_forward(node, payload))

    @traced_publish
    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        """Spread ``packet``; each forward answers once its own subtree is done, so the report counts
        every forward of the packet and names every agent it reached."""
        node = self.publisher_node(publisher)
        self._seen.setdefault(node.node_id, set()).add(packet.id)
        spread = await self._spread(node, encode_packet(packet), self.budget)
        self._stats.packets += 1
        self._stats.messages += spread.messages
        agents = list(spread.reached)
        return DeliveryReport.of(packet.id, agents, [spread.reached[a] for a in agents], spread.messages, 1)

    async def _on_forward(self, node: DHTNode, payload: bytes) -> bytes:
        data, budget = expect_type(unpack_untrusted(payload, ProtocolError), list, "gossip", ProtocolError)
        packet_bytes = expect_type(data, bytes, "packet", ProtocolError)
        remaining = expect_type(budget, int, "budget", ProtocolError)
        seen = self._seen.setdefault(node.node_id, set())
        try:
            packet_id = decode_packet(packet_bytes).id
        except PacketError as exc:
            raise ProtocolError(f"gossip: {exc}") from exc
        if packet_id in seen:
            return pack([0, []])  # a duplicate spends its message but goes no further
        seen.add(packet_id)
        reached: dict[bytes, Outcome] = {}
        host = self.hosts.get(node.node_id)
        if host is not None:
            for agent in list(host.agents):
                reached[agent] = await host.deliver_local(agent, packet_bytes)
        spread = await self._spread(node, packet_bytes, min(max(0, remaining), self.budget))
        reached.update(spread.reached)
        return pack([spread.messages, [[a, int(o)] for a, o in reached.items() if o]])

    async def _spread(self, node: DHTNode, packet_bytes: bytes, budget: int) -> _Spread:
        """Forward to up to ``fanout`` random contacts, splitting ``budget``: the forwards sent here
        and below, and the agents reached below."""
        contacts = list(node.table)
        out = _Spread(0, {})
        if budget <= 0 or not contacts:
            return out
        targets = self._rng.sample(contacts, min(self.fanout, budget, len(contacts)))
        share, extra = divmod(budget - len(targets), len(targets))
        sends = [
            node.app_request(
                c, GOSSIP_TOPIC, pack([packet_bytes, share + (1 if i < extra else 0)]), category="gossip"
            )
            for i, c in enumerate(targets)
        ]
        out.messages = len(targets)
        for reply in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(reply, BaseException):
                continue  # a dead or refusing peer: its subtree is lost, as gossip loses it
            try:
                below, agents = _decode_spread(reply)
            except ProtocolError:
                continue
            out.messages += below
            out.reached.update(agents)
        return out
