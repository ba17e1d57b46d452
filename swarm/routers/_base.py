"""The Router protocol every strategy implements, its report, and delivery to agents hosted on nodes."""

from __future__ import annotations

import functools
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from synthswarm.swarm._wire import expect_type, pack, unpack_untrusted
from synthswarm.swarm.admission import PacketAdmission
from synthswarm.swarm.dht import Contact, DHTNode
from synthswarm.swarm.errors import (
    DHTError,
    PacketError,
    PacketReplayError,
    PacketSignatureError,
    PeerBusyError,
    ProtocolError,
    RPCTimeoutError,
)
from synthswarm.swarm.packet import OutcomePacket, encode_packet
from synthswarm.swarm.telemetry import AttributeValue, SpanKind, span

__all__ = [
    "DELIVER_TOPIC",
    "AgentHost",
    "DeliverFn",
    "DeliveryReport",
    "Outcome",
    "Router",
    "RouterStats",
    "Subscriber",
    "packet_attributes",
    "traced_publish",
]

DELIVER_TOPIC = "swarm.deliver"
SPAN_PUBLISH = "packet.publish"
SPAN_DELIVER = "packet.deliver"
ATTR_PACKET_ID, ATTR_PACKET_KIND, ATTR_ORIGIN = (
    "synthswarm.packet.id",
    "synthswarm.packet.kind",
    "synthswarm.packet.origin",
)
ATTR_AGENT, ATTR_ROUTER, ATTR_OUTCOME = (
    "synthswarm.agent.id",
    "synthswarm.router",
    "synthswarm.delivery.outcome",
)
ATTR_DELIVERED, ATTR_MESSAGES, ATTR_HOPS = "synthswarm.delivered", "synthswarm.messages", "synthswarm.hops"
_Publish = typing.TypeVar("_Publish", bound=Callable[..., Awaitable["DeliveryReport"]])

#: Called once per packet an agent receives (duplicates are filtered before it). Returning True
#: promises a follow-up packet (a reply to a query), so the publisher knows whom to wait for.
DeliverFn = Callable[[OutcomePacket], Awaitable[bool | None]]


class Outcome(IntEnum):
    """What one delivery did; false only when the agent was not reached (or already had the packet)."""

    MISSED = 0
    DELIVERED = 1
    FOLLOW_UP = 2
    """Delivered, and the agent promised a follow-up packet."""


@dataclass(frozen=True)
class DeliveryReport:
    """What one publish did, as far as the publisher can see."""

    packet_id: bytes
    delivered_to: tuple[bytes, ...]
    """Agents the publisher knows received the packet."""
    messages: int
    """Requests the packet cost: the publisher's, and for gossip every forwarder's too."""
    hops: int = 0
    """Longest path to a rendezvous (dht), else 1 for direct delivery, 0 for none."""
    follow_ups: tuple[bytes, ...] = ()
    """Agents that promised a follow-up packet, such as a reply to a query."""

    @classmethod
    def of(
        cls, packet_id: bytes, agents: Sequence[bytes], outcomes: Sequence[Outcome], messages: int, hops: int
    ) -> DeliveryReport:
        """The report of delivering to ``agents`` with these ``outcomes`` (in the same order)."""
        pairs = list(zip(agents, outcomes, strict=True))
        return cls(
            packet_id,
            tuple(a for a, o in pairs if o),
            messages,
            hops,
            tuple(a for a, o in pairs if o is Outcome.FOLLOW_UP),
        )


@dataclass
class RouterStats:
    packets: int = 0
    messages: int = 0
    deliveries: int = 0
    duplicates_dropped: int = 0
    """Copies of packets the receiving agent already had (replays, or duplicates on another path)."""
    rejected: int = 0
    """Packets refused on receipt: forged or tampered, malformed, expired (duplicates not counted)."""
    forged: int = 0
    """Of ``rejected``: signatures that did not verify."""
    subscribe_messages: int = 0
    """Requests spent storing subscriptions (not counted in ``messages``)."""
    subscription_stores_refused: int = 0
    """Copies of subscription records a rendezvous node refused (its store at a cap)."""
    subscriptions_lost: int = 0
    """Subscription records no rendezvous node kept (each is also raised to the subscriber)."""
    subscriptions_spilled: int = 0
    """Times a subscription record went one LSH level down because its key's rendezvous were full."""
    subscription_retries: int = 0
    """Puts of a subscription record tried again because no rendezvous node answered the last one."""


@dataclass(frozen=True)
class Subscriber:
    """An agent as a router sees it: who, where, and what it is interested in."""

    agent_id: bytes
    contact: Contact
    interests: npt.NDArray[np.float32]


@runtime_checkable
class Router(Protocol):
    """How packets move between agents. Every strategy (dht and the baselines) implements this."""

    name: str

    async def subscribe(
        self, agent_id: bytes, interests: npt.ArrayLike, deliver: DeliverFn, *, node: DHTNode
    ) -> None:
        """Register an agent hosted on ``node``, with one or more interest vectors (rows)."""
        ...

    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        """Send ``packet`` on behalf of the agent ``publisher`` to the agents it should reach."""
        ...

    def stats(self) -> RouterStats: ...


@dataclass
class AgentHost:
    """The agents living on one node, and the ``swarm.deliver`` handler that hands them packets.

    Every packet passes :class:`~synthswarm.swarm.admission.PacketAdmission` before an agent sees it: decoded,
    its signature verified, not expired, and not a copy of one the agent already received.
    """

    node: DHTNode
    stats: RouterStats
    agents: dict[bytes, DeliverFn] = field(default_factory=dict)
    admission: PacketAdmission = field(default_factory=PacketAdmission)

    @classmethod
    def on(cls, node: DHTNode, stats: RouterStats, registry: dict[bytes, AgentHost]) -> AgentHost:
        """The host of ``node`` in ``registry``, installing its handler the first time."""
        host = registry.get(node.node_id)
        if host is None:
            host = registry[node.node_id] = cls(node, stats)
            node.register_app(DELIVER_TOPIC, host.handle)
        return host

    def add(self, agent_id: bytes, deliver: DeliverFn) -> None:
        self.agents[agent_id] = deliver

    async def handle(self, sender: Contact, payload: bytes) -> bytes:
        agent_id, data = decode_delivery(payload)
        return pack(int(await self.deliver_local(agent_id, data)))

    async def deliver_local(self, agent_id: bytes, data: bytes) -> Outcome:
        """Hand packet bytes to a local agent; MISSED when it already had the packet."""
        deliver = self.agents.get(agent_id)
        if deliver is None:
            raise DHTError("no such agent here")
        with span(SPAN_DELIVER, kind=SpanKind.CONSUMER) as current:
            recording = current.is_recording()  # attributes are built only for a span that keeps them
            if recording:
                current.set_attribute(ATTR_AGENT, agent_id.hex())
            try:
                packet = self.admission.admit(data, agent_id)
            except PacketReplayError:
                self.stats.duplicates_dropped += 1
                current.set_attribute(ATTR_OUTCOME, Outcome.MISSED.name.lower())
                return Outcome.MISSED
            except PacketError as exc:
                self.stats.rejected += 1
                self.stats.forged += isinstance(exc, PacketSignatureError)
                raise DHTError(f"rejected packet: {exc}") from exc
            self.stats.deliveries += 1
            if recording:
                current.set_attributes(packet_attributes(packet))
            outcome = Outcome.FOLLOW_UP if await deliver(packet) else Outcome.DELIVERED
            current.set_attribute(ATTR_OUTCOME, outcome.name.lower())
            return outcome


def packet_attributes(packet: OutcomePacket) -> dict[str, AttributeValue]:
    """What a span says about a packet: its id, kind and signer (never its text)."""
    return {
        ATTR_PACKET_ID: packet.id.hex(),
        ATTR_PACKET_KIND: str(packet.kind),
        ATTR_ORIGIN: packet.origin.hex(),
    }


def traced_publish(publish: _Publish) -> _Publish:
    """A router's ``publish`` inside a :data:`SPAN_PUBLISH` span (kind PRODUCER) that names the packet
    and the router, and, once it is sent, how many agents it reached at what cost. Every request the
    router sends meanwhile carries the span's trace (:mod:`synthswarm.swarm.telemetry`), so the deliveries in
    other processes are its children."""

    @functools.wraps(publish)
    async def traced(router: Router, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        with span(SPAN_PUBLISH, kind=SpanKind.PRODUCER) as current:
            if current.is_recording():
                current.set_attributes({**packet_attributes(packet), ATTR_ROUTER: router.name})
            report = await publish(router, packet, publisher=publisher)
            current.set_attributes(
                {
                    ATTR_DELIVERED: len(report.delivered_to),
                    ATTR_MESSAGES: report.messages,
                    ATTR_HOPS: report.hops,
                }
            )
            return report

    return typing.cast(_Publish, traced)


def encode_delivery(agent_id: bytes, packet: OutcomePacket) -> bytes:
    return pack([agent_id, encode_packet(packet)])


def decode_delivery(payload: bytes) -> tuple[bytes, bytes]:
    items = expect_type(unpack_untrusted(payload, ProtocolError), list, "delivery", ProtocolError)
    if len(items) != 2:
        raise ProtocolError("delivery: expected [agent_id, packet]")
    return (
        expect_type(items[0], bytes, "agent id", ProtocolError),
        expect_type(items[1], bytes, "packet", ProtocolError),
    )


async def deliver_to(
    node: DHTNode,
    hosts: dict[bytes, AgentHost],
    agent_id: bytes,
    contact: Contact,
    packet: OutcomePacket,
    category: str,
) -> Outcome:
    """Hand ``packet`` from ``node`` to the agent ``agent_id`` living at ``contact``: directly when it
    lives on ``node`` itself, else by a ``swarm.deliver`` request."""
    outcome = await try_deliver(node, hosts, agent_id, contact, packet, category)
    return Outcome.MISSED if outcome is None else outcome


async def try_deliver(
    node: DHTNode,
    hosts: dict[bytes, AgentHost],
    agent_id: bytes,
    contact: Contact,
    packet: OutcomePacket,
    category: str,
) -> Outcome | None:
    """As :func:`deliver_to`, but None when the receiver could not be reached (no answer, or too busy
    to serve), so the delivery is worth retrying; a refusal is MISSED."""
    if contact.node_id == node.node_id:
        return await hosts[node.node_id].deliver_local(agent_id, encode_packet(packet))
    try:
        reply = await node.app_request(
            contact, DELIVER_TOPIC, encode_delivery(agent_id, packet), category=category
        )
    except (RPCTimeoutError, PeerBusyError):
        return None
    except DHTError:
        return Outcome.MISSED
    return _outcome(reply)


def _outcome(reply: bytes) -> Outcome:
    """A remote host's answer; anything unreadable still means the request was served."""
    try:
        value = expect_type(unpack_untrusted(reply, ProtocolError), int, "outcome", ProtocolError)
        return Outcome(value)
    except (ProtocolError, ValueError):
        return Outcome.DELIVERED
