"""The host of a node: the one object that serves every application request for the agents there.

:meth:`NodeHost.on` gives a node its host, installing the handlers the first time:

- ``swarm.deliver``: a packet for a local agent, from whichever router sent it;
- ``swarm.reply``: an offer of passages in answer to a query a local agent asked
  (:mod:`synthswarm.swarm.direct` says how asking works);
- ``swarm.fetch``: the texts of a local agent's passages;
- ``swarm.relay``: a query relayed to a local agent, which may then reply to its asker;
- ``swarm.handoff`` and ``swarm.handed``: a question handed to a local agent to answer (the entry step
  of :mod:`synthswarm.agents.entry` chose it), and what such an agent found, sent back to the node
  that handed it over.

One :class:`~synthswarm.swarm.admission.PacketAdmission` admits every packet that reaches the node's
agents: signed, fresh, and not seen before by that agent on that path, as before, when each router and
the relays had an admission of their own. A path is the router that placed the agent here, or the
relays: a query the router delivered and the same query relayed are both let through (the agent dedupes
itself, and whether it promises a reply must not depend on which of the two arrived first), and so is
a packet that a second router over the same nodes delivers again (as the benchmarks do). A copy from
the node that sent the first is that request sent again (its answer was slow, so the sender's RPC
client retried): it is answered with the first copy's outcome, not refused, so a promise to reply
survives a resend (:meth:`PacketAdmission.admit_request`).

:meth:`NodeHost.request` is the one place a node addressing itself is told apart from one addressing
another: it serves the request here, with no socket (so nothing is counted). A packet reaches a local
agent as the object it is: one made in this process is neither encoded nor decoded and verified again
(it was signed here). Every router and the direct module send through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from synthswarm.swarm._codec import encode
from synthswarm.swarm._host_messages import (
    DELIVER_TOPIC,
    FETCH,
    FETCH_TOPIC,
    HANDED_TOPIC,
    HANDOFF,
    HANDOFF_TOPIC,
    MAX_FETCH,
    MAX_TEXT,
    RELAY,
    RELAY_TOPIC,
    REPLY,
    REPLY_TOPIC,
    Delivery,
    FetchedText,
    FetchRequest,
    Handed,
    HandoffRequest,
    Outcome,
    Reply,
    asked_texts,
    decode_accepted,
    decode_delivery,
    decode_outcome,
    decode_promise,
    decode_texts,
)
from synthswarm.swarm.admission import Answer, PacketAdmission
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
from synthswarm.swarm.packet import OutcomePacket, PacketKind
from synthswarm.swarm.telemetry import ERROR_TYPE, AttributeValue, SpanKind, span

__all__ = [
    "DeliverFn",
    "DeliveryCounts",
    "FetchFn",
    "HandoffFn",
    "NodeHost",
    "RelayFn",
    "packet_attributes",
]

_T = TypeVar("_T")

#: Called once per packet an agent receives (duplicates are filtered before it). Returning True
#: promises a follow-up packet (a reply to a query), so the publisher knows whom to wait for.
DeliverFn = Callable[[OutcomePacket], Awaitable[bool | None]]
#: Serves a fetch for one local agent: the texts of the passage ids it holds (absent ids left out).
FetchFn = Callable[[Sequence[str]], Awaitable[dict[str, str]]]
#: Hands a relayed query (admitted: signed, fresh, not seen before) to one local agent; True when
#: the agent will reply to the asker.
RelayFn = Callable[[OutcomePacket], Awaitable[bool]]
#: Takes a question over for one local agent, from the node at the contact: True when it accepted
#: (it then sends a :class:`Handed` back there with :meth:`NodeHost.send_handed`).
HandoffFn = Callable[[Contact, HandoffRequest], Awaitable[bool]]

SPAN_DELIVER = "packet.deliver"
SPAN_REPLY_SEND, SPAN_REPLY_RECEIVE, SPAN_FETCH = "reply.send", "reply.receive", "passage.fetch"
ATTR_PACKET_ID, ATTR_PACKET_KIND, ATTR_ORIGIN = (
    "synthswarm.packet.id",
    "synthswarm.packet.kind",
    "synthswarm.packet.origin",
)
ATTR_AGENT, ATTR_OUTCOME = "synthswarm.agent.id", "synthswarm.delivery.outcome"
ATTR_QUERY, ATTR_RESPONDER, ATTR_OFFERS = "synthswarm.query.id", "synthswarm.responder", "synthswarm.offers"
ATTR_EXPECTED, ATTR_ASKED, ATTR_FETCHED = (
    "synthswarm.reply.expected",
    "synthswarm.fetch.asked",
    "synthswarm.fetch.got",
)
_RELAYED = 0xFFFF
"""The path of relayed queries in admission scopes; a router's deliveries count up from 0."""


class DeliveryCounts(Protocol):
    """Where a host counts what it did with the packets for an agent (its router's ``RouterStats``)."""

    deliveries: int
    duplicates_dropped: int
    rejected: int
    forged: int


@dataclass(frozen=True)
class _Resident:
    deliver: DeliverFn
    counts: DeliveryCounts
    scope: bytes
    """Of admission: the path it was placed by, and the agent id."""


def _scope(path: int, agent_id: bytes) -> bytes:
    # A fixed-width path before the agent id, and the packet id (fixed too) after it in admission:
    # the key names path, agent and packet unambiguously.
    return path.to_bytes(2, "big") + agent_id


@dataclass(eq=False)
class NodeHost:
    """The agents living on one node and the requests served for them. Get it with :meth:`on`."""

    node: DHTNode
    admission: PacketAdmission = field(default_factory=PacketAdmission)
    agents: dict[bytes, _Resident] = field(default_factory=dict)
    fetchers: dict[bytes, FetchFn] = field(default_factory=dict)
    relayers: dict[bytes, RelayFn] = field(default_factory=dict)
    waiting: dict[bytes, asyncio.Queue[Reply]] = field(default_factory=dict)
    handoffs: dict[bytes, HandoffFn] = field(default_factory=dict)
    handing: dict[bytes, tuple[bytes, asyncio.Future[Handed]]] = field(default_factory=dict)
    """Handoffs waiting for their answer, by id: the node handed to, and the answer to come."""
    unexpected: int = 0
    """Replies to no query waiting here (late, or never asked for): answered, then dropped."""
    _paths: list[DeliveryCounts] = field(default_factory=list)
    """The counts of each router that placed agents here, in order: a router's path is its index."""

    @classmethod
    def on(cls, node: DHTNode) -> NodeHost:
        """The host of ``node``, installing its handlers the first time."""
        found = getattr(node.app_handler(DELIVER_TOPIC), "__self__", None)
        if isinstance(found, NodeHost):
            return found
        host = cls(node)
        node.register_app(DELIVER_TOPIC, host.on_deliver)
        node.register_app(REPLY_TOPIC, host.on_reply)
        node.register_app(FETCH_TOPIC, host.on_fetch)
        node.register_app(RELAY_TOPIC, host.on_relay)
        node.register_app(HANDOFF_TOPIC, host.on_handoff)
        node.register_app(HANDED_TOPIC, host.on_handed)
        return host

    # --- who lives here ----------------------------------------------------------------------------

    def add(self, agent_id: bytes, deliver: DeliverFn, counts: DeliveryCounts) -> None:
        """Hand the packets delivered for ``agent_id`` to ``deliver``, counted in ``counts`` (its
        router's: packets the agent had from that router are refused as replays)."""
        path = next((i for i, known in enumerate(self._paths) if known is counts), len(self._paths))
        if path == len(self._paths):
            self._paths.append(counts)
        self.agents[agent_id] = _Resident(deliver, counts, _scope(path, agent_id))

    def remove(self, agent_id: bytes) -> None:
        """Stop hosting ``agent_id``: deliveries, fetches, relays and handoffs for it are refused
        from now on ("no such agent here")."""
        for table in (self.agents, self.fetchers, self.relayers, self.handoffs):
            table.pop(agent_id, None)

    def serve(self, agent_id: bytes, fetch: FetchFn, relay: RelayFn | None = None) -> None:
        """Let other agents fetch texts of ``agent_id``'s passages through this node (and, with
        ``relay``, relay queries to it)."""
        self.fetchers[agent_id] = fetch
        if relay is not None:
            self.relayers[agent_id] = relay

    def take_over(self, agent_id: bytes, handoff: HandoffFn) -> None:
        """Let other nodes hand questions to ``agent_id`` here."""
        self.handoffs[agent_id] = handoff

    def expect(self, query_id: bytes) -> asyncio.Queue[Reply]:
        """Start collecting the replies to ``query_id`` (call :meth:`forget` when done)."""
        return self.waiting.setdefault(query_id, asyncio.Queue())

    def forget(self, query_id: bytes) -> None:
        self.waiting.pop(query_id, None)

    # --- the one path out --------------------------------------------------------------------------

    def is_self(self, contact: Contact) -> bool:
        """Whether ``contact`` is this node (a request to it is served here and costs no message)."""
        return contact.node_id == self.node.node_id

    async def request(
        self,
        to: Contact,
        topic: str,
        message: object,
        answer: Callable[[bytes], _T],
        *,
        category: str,
        here: Callable[[], Awaitable[_T]] | None = None,
    ) -> _T:
        """Send ``message`` (a struct, encoded only if it must be) to the node at ``to`` and read its
        answer. To this node itself: ``here`` answers on the objects, or, without one, the handler
        this node installed for ``topic`` on the bytes. A refusal raises a DHTError either way."""
        if not self.is_self(to):
            return answer(await self.node.app_request(to, topic, encode(message), category=category))
        if here is not None:
            return await here()
        handler = self.node.app_handler(topic)
        if handler is None:
            raise DHTError(f"this node does not serve {topic}")
        return answer(await handler(self.node.contact, encode(message)))

    # --- sending -----------------------------------------------------------------------------------

    async def deliver(
        self, to: Contact, agent_id: bytes, packet: OutcomePacket, *, category: str
    ) -> Outcome | None:
        """Hand ``packet`` to the agent ``agent_id`` living at ``to``. None when it could not be reached
        (no answer, or too busy to serve), so the delivery is worth retrying; a refusal is MISSED."""
        delivered = self.request(
            to, DELIVER_TOPIC, Delivery(agent_id, packet.wire), decode_outcome, category=category,
            here=lambda: self.deliver_local(agent_id, packet, sender=self.node.node_id),
        )  # fmt: skip
        return await _reached(delivered, Outcome.MISSED)

    async def send_reply(self, to: Contact, reply: Reply) -> bool:
        """Send ``reply`` to the asker's node; False when it could not be reached."""
        with span(SPAN_REPLY_SEND, kind=SpanKind.PRODUCER, attributes=_reply_attributes(reply)) as current:
            try:
                await self.request(
                    to, REPLY_TOPIC, reply.message(), _nothing, category=REPLY,
                    here=lambda: self._take(dataclasses.replace(reply, holder=self.node.contact)),
                )  # fmt: skip
            except DHTError as exc:
                current.set_attribute(ERROR_TYPE, type(exc).__qualname__)
                return False
            return True

    async def fetch(self, holder: Contact, agent_id: bytes, passage_ids: Sequence[str]) -> dict[str, str]:
        """Texts of ``passage_ids`` from the agent ``agent_id`` on ``holder``, in batches of
        :data:`MAX_FETCH`; passages it could not supply (dead peer, unknown id) are absent."""
        out: dict[str, str] = {}
        with span(SPAN_FETCH, kind=SpanKind.CLIENT, attributes={ATTR_ASKED: len(passage_ids)}) as current:
            for start in range(0, len(passage_ids), MAX_FETCH):
                out.update(await self._fetch_batch(holder, agent_id, passage_ids[start : start + MAX_FETCH]))
            current.set_attribute(ATTR_FETCHED, len(out))
        return out

    async def _fetch_batch(self, holder: Contact, agent_id: bytes, ids: Sequence[str]) -> dict[str, str]:
        request, asked = FetchRequest(agent_id, tuple(ids)), set(ids)

        async def here() -> dict[str, str]:
            return asked_texts(await self._texts(request), asked)

        def answer(data: bytes) -> dict[str, str]:
            return decode_texts(data, asked)

        try:
            return await self.request(holder, FETCH_TOPIC, request, answer, category=FETCH, here=here)
        except DHTError:
            return {}  # ProtocolError is a DHTError: a garbled answer supplies nothing

    async def relay(self, to: Contact, agent_id: bytes, query: OutcomePacket) -> bool | None:
        """Relay ``query`` to the agent ``agent_id`` at ``to``: True when it promised the asker a reply,
        False when it had nothing, had the query already or refused it, None when it could not be
        reached (no answer, or too busy to serve)."""
        relayed = self.request(
            to, RELAY_TOPIC, Delivery(agent_id, query.wire), decode_promise, category=RELAY,
            here=lambda: self.relay_local(agent_id, query, sender=self.node.node_id),
        )  # fmt: skip
        return await _reached(relayed, False)

    async def hand_off(self, to: Contact, request: HandoffRequest) -> asyncio.Future[Handed] | None:
        """Hand ``request``'s question to its agent at ``to``: the answer to come (await it with a
        timeout; :meth:`forget_handoff` after), or None when it was not accepted or not reached."""
        future: asyncio.Future[Handed] = asyncio.get_running_loop().create_future()
        self.handing[request.handoff_id] = (to.node_id, future)
        sent = self.request(
            to, HANDOFF_TOPIC, request, decode_accepted, category=HANDOFF,
            here=lambda: self.handoff_local(self.node.contact, request),
        )  # fmt: skip
        if not await _reached(sent, False):
            self.forget_handoff(request.handoff_id)
            return None
        return future

    def forget_handoff(self, handoff_id: bytes) -> None:
        self.handing.pop(handoff_id, None)

    async def send_handed(self, to: Contact, handed: Handed) -> bool:
        """Send what a handed question found back to the node that handed it; False when unreached."""
        try:
            await self.request(
                to, HANDED_TOPIC, handed, _nothing, category=HANDOFF,
                here=lambda: self._take_handed(self.node.contact, handed),
            )  # fmt: skip
        except DHTError:
            return False
        return True

    # --- serving -----------------------------------------------------------------------------------

    async def on_deliver(self, sender: Contact, payload: bytes) -> bytes:
        agent_id, packet = decode_delivery(payload)
        return encode(await self.deliver_local(agent_id, packet, sender=sender.node_id))

    async def on_reply(self, sender: Contact, payload: bytes) -> bytes:
        await self._take(Reply.decode(payload, sender))
        return b""

    async def on_fetch(self, sender: Contact, payload: bytes) -> bytes:
        return encode(await self._texts(FetchRequest.decode(payload)))

    async def on_relay(self, sender: Contact, payload: bytes) -> bytes:
        agent_id, packet = decode_delivery(payload)
        return encode(await self.relay_local(agent_id, packet, sender=sender.node_id))

    async def on_handoff(self, sender: Contact, payload: bytes) -> bytes:
        return encode(await self.handoff_local(sender, HandoffRequest.decode(payload)))

    async def on_handed(self, sender: Contact, payload: bytes) -> bytes:
        await self._take_handed(sender, Handed.decode(payload))
        return b""

    async def handoff_local(self, sender: Contact, request: HandoffRequest) -> bool:
        """Give a handed question to the local agent it names."""
        take = self.handoffs.get(request.agent_id)
        if take is None:
            raise DHTError("no such agent here")
        return await take(sender, request)

    async def _take_handed(self, sender: Contact, handed: Handed) -> None:
        """An answer to a handoff: kept only from the node it was handed to, once."""
        waiting = self.handing.get(handed.handoff_id)
        if waiting is None or waiting[0] != sender.node_id or waiting[1].done():
            self.unexpected += 1
            return
        waiting[1].set_result(handed)

    async def deliver_local(
        self, agent_id: bytes, packet: bytes | OutcomePacket, *, sender: bytes | None = None
    ) -> Outcome:
        """Hand a packet (bytes from the network, or a packet object) from the node ``sender`` (None:
        this one) to a local agent, once it is admitted; MISSED when the agent already had it from
        another sender, and the first copy's outcome when ``sender`` sends it again."""
        resident = self.agents.get(agent_id)
        if resident is None:
            raise DHTError("no such agent here")
        counts = resident.counts
        with span(SPAN_DELIVER, kind=SpanKind.CONSUMER) as current:
            recording = current.is_recording()  # attributes are built only for a span that keeps them
            if recording:
                current.set_attribute(ATTR_AGENT, agent_id.hex())
            try:
                admitted = self.admission.admit_request(packet, resident.scope, sender=self._sender(sender))
            except PacketReplayError:
                counts.duplicates_dropped += 1
                current.set_attribute(ATTR_OUTCOME, Outcome.MISSED.name.lower())
                return Outcome.MISSED
            except PacketError as exc:
                counts.rejected += 1
                counts.forged += isinstance(exc, PacketSignatureError)
                raise DHTError(f"rejected packet: {exc}") from exc
            if isinstance(admitted, Answer):  # a resend: not the agent's again, but the same answer
                counts.duplicates_dropped += 1
                outcome = Outcome(await admitted.wait())
                current.set_attribute(ATTR_OUTCOME, outcome.name.lower())
                return outcome
            counts.deliveries += 1
            if recording:
                current.set_attributes(packet_attributes(admitted.packet))
            outcome = Outcome.MISSED  # what a resend is told if the agent fails on the first copy
            try:
                outcome = Outcome.FOLLOW_UP if await resident.deliver(admitted.packet) else Outcome.DELIVERED
            finally:
                admitted.answer.give(outcome)
            current.set_attribute(ATTR_OUTCOME, outcome.name.lower())
            return outcome

    async def relay_local(
        self, agent_id: bytes, packet: bytes | OutcomePacket, *, sender: bytes | None = None
    ) -> bool:
        """Hand a relayed query from the node ``sender`` (None: this one) to a local agent, once it is
        admitted; False when the agent had it from another sender, the first answer when ``sender``
        sends it again."""
        handle = self.relayers.get(agent_id)
        if handle is None:
            raise DHTError("no such agent here")
        try:
            admitted = self.admission.admit_request(
                packet, _scope(_RELAYED, agent_id), sender=self._sender(sender)
            )
        except PacketReplayError:
            return False
        except PacketError as exc:
            raise ProtocolError(f"relayed packet refused: {exc}") from exc
        if isinstance(admitted, Answer):
            return bool(await admitted.wait())
        promised = False
        try:
            if admitted.packet.kind is not PacketKind.QUERY:
                raise ProtocolError("relay: only queries are relayed")
            promised = bool(await handle(admitted.packet))
        finally:
            admitted.answer.give(promised)
        return promised

    def _sender(self, sender: bytes | None) -> bytes:
        return self.node.node_id if sender is None else sender

    async def _take(self, reply: Reply) -> None:
        queue = self.waiting.get(reply.query_id)
        with span(SPAN_REPLY_RECEIVE, kind=SpanKind.CONSUMER, attributes=_reply_attributes(reply)) as current:
            current.set_attribute(ATTR_EXPECTED, queue is not None)
        if queue is None:
            self.unexpected += 1
        else:
            queue.put_nowait(reply)

    async def _texts(self, request: FetchRequest) -> list[FetchedText]:
        fetch = self.fetchers.get(request.agent_id)
        if fetch is None:
            raise DHTError("no such agent here")
        texts = await fetch(request.passage_ids)
        return [
            FetchedText(i, t)
            for i in request.passage_ids
            if (t := texts.get(i)) is not None and len(t) <= MAX_TEXT
        ]


async def _reached(answer: Awaitable[_T], refused: _T) -> _T | None:
    """The ``answer`` of a request; None when its node could not be reached (no answer, or too busy
    to serve), so it is worth trying again; ``refused`` when the node refused it."""
    try:
        return await answer
    except (RPCTimeoutError, PeerBusyError):
        return None
    except DHTError:
        return refused


def packet_attributes(packet: OutcomePacket) -> dict[str, AttributeValue]:
    """What a span says about a packet: its id, kind and signer (never its text)."""
    return {
        ATTR_PACKET_ID: packet.id.hex(),
        ATTR_PACKET_KIND: str(packet.kind),
        ATTR_ORIGIN: packet.origin.hex(),
    }


def _reply_attributes(reply: Reply) -> dict[str, AttributeValue]:
    return {
        ATTR_QUERY: reply.query_id.hex(),
        ATTR_RESPONDER: reply.responder.hex(),
        ATTR_OFFERS: len(reply.offers),
    }


def _nothing(_: bytes) -> None:
    """A reply is answered with nothing."""
