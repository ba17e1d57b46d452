"""The Router protocol every strategy implements, its report and its stats.

Routers host agents on DHT nodes and deliver to them through each node's one
:class:`~synthswarm.swarm.host.NodeHost` (its ``swarm.deliver`` request, admission first); the names of that
path are re-exported here, where routers always found them.
"""

from __future__ import annotations

import asyncio
import functools
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from synthswarm.swarm._host_messages import DELIVER_TOPIC, Outcome, decode_delivery, encode_delivery
from synthswarm.swarm.dht import Contact, DHTNode
from synthswarm.swarm.host import DeliverFn, packet_attributes
from synthswarm.swarm.packet import OutcomePacket
from synthswarm.swarm.telemetry import SpanKind, span

__all__ = [
    "DELIVER_TOPIC",
    "DeliverFn",
    "DeliveryReport",
    "Outcome",
    "Router",
    "RouterStats",
    "Subscriber",
    "decode_delivery",
    "encode_delivery",
    "packet_attributes",
    "subscribe_in_batches",
    "traced_publish",
]

SPAN_PUBLISH = "packet.publish"
ATTR_ROUTER = "synthswarm.router"
ATTR_DELIVERED, ATTR_MESSAGES, ATTR_HOPS = "synthswarm.delivered", "synthswarm.messages", "synthswarm.hops"
_Publish = typing.TypeVar("_Publish", bound=Callable[..., Awaitable["DeliveryReport"]])


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
    unsubscribe_messages: int = 0
    """Requests spent withdrawing subscriptions: agents that left, rows that moved or went away
    (not counted in ``messages``)."""
    unsubscribed: int = 0
    """Agents withdrawn (:meth:`Router.unsubscribe`)."""


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

    async def unsubscribe(self, agent_id: bytes) -> None:
        """Withdraw the agent: no packet is delivered to it from now on, and its interest rows are
        taken back wherever they were stored (counted in ``unsubscribe_messages``). An agent that
        never subscribed, or left already, is a no-op."""
        ...

    async def publish(self, packet: OutcomePacket, *, publisher: bytes) -> DeliveryReport:
        """Send ``packet`` on behalf of the agent ``publisher`` to the agents it should reach."""
        ...

    def stats(self) -> RouterStats: ...


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


#: Agents that subscribe at once when many do (a swarm starting, a benchmark): each subscription
#: walks the DHT, and thousands at once would only queue on the loop.
SUBSCRIBE_BATCH = 64


async def subscribe_in_batches(
    router: Router,
    rows: Sequence[tuple[bytes, npt.ArrayLike, DeliverFn, DHTNode]],
    *,
    lost_counted: bool = True,
    done: Callable[[int], None] | None = None,
) -> None:
    """Subscribe each (agent id, interests, deliver, node) of ``rows``, :data:`SUBSCRIBE_BATCH` at a
    time, calling ``done`` with how many have subscribed after each batch. ``lost_counted``: a
    subscription that fails does not stop the rest, for the router counts it (the DHT router's
    ``subscriptions_lost``); otherwise the first failure is raised."""
    for start in range(0, len(rows), SUBSCRIBE_BATCH):
        chunk = rows[start : start + SUBSCRIBE_BATCH]
        await asyncio.gather(
            *(
                router.subscribe(agent, interests, deliver, node=node)
                for agent, interests, deliver, node in chunk
            ),
            return_exceptions=lost_counted,
        )
        if done is not None:
            done(start + len(chunk))
