"""Direct messages between agents: replies to a query, fetches of passage texts, and relayed queries.

A query packet travels through whatever router the swarm uses; what comes back does not. The query
names its asker's node (:func:`reply_ref`, one of the packet's signed evidence refs), and each agent
that can help sends its :class:`Reply` straight there: passage ids, sources, titles and scores, no
texts. The asker ranks every offer it got and then fetches (:class:`FetchRequest`) only the texts of the
passages that make its context, from the nodes that offered them. Both are ZeroMQ requests counted at
the socket under the categories :data:`REPLY` and :data:`FETCH`.

A finding may name its holder's node too (:func:`holder_ref`), so an agent that received it knows
where its author answers. An agent reached by a query with nothing to offer may relay the signed query
(ttl 1: a relayed query is never relayed again) to such an author whose finding matches it; the author
then replies to the asker like any other. When the author cannot be reached, the relayer offers its
own whole copies of the author's matching findings instead. Relays are counted under :data:`RELAY`.

One :class:`DirectHost` per node serves the three topics for every agent living there. A reply's holder is
the node that sent it (the request's proven sender), never a field of the message, so a node can offer
only passages it will itself be asked to serve. Every decoder reads untrusted bytes and raises nothing
but :class:`~synthswarm.swarm.errors.ProtocolError`; a message over a cap is refused whole, never cut.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from synthswarm.swarm._wire import expect_fields, expect_type, pack, unpack_untrusted
from synthswarm.swarm.admission import PacketAdmission
from synthswarm.swarm.dht import Contact, DHTNode
from synthswarm.swarm.errors import (
    DHTError,
    PacketError,
    PacketReplayError,
    PeerBusyError,
    ProtocolError,
    RPCTimeoutError,
)
from synthswarm.swarm.packet import OutcomePacket, PacketKind, encode_packet
from synthswarm.swarm.telemetry import ERROR_TYPE, AttributeValue, SpanKind, span

__all__ = [
    "FETCH",
    "FETCH_TOPIC",
    "MAX_FETCH",
    "MAX_OFFERS",
    "MAX_TEXT",
    "RELAY",
    "RELAY_TOPIC",
    "REPLY",
    "REPLY_TOPIC",
    "DirectHost",
    "FetchRequest",
    "Offer",
    "Reply",
    "decode_texts",
    "floor_ref",
    "holder_ref",
    "parse_floor_ref",
    "parse_holder_ref",
    "parse_reply_ref",
    "reply_ref",
    "source_refs",
]

REPLY_TOPIC = "swarm.reply"
FETCH_TOPIC = "swarm.fetch"
RELAY_TOPIC = "swarm.relay"
#: Request categories in :class:`~synthswarm.swarm.dht.node.NodeStats` (what ``rpcs_sent`` counts them under).
REPLY, FETCH, RELAY = "reply", "fetch", "relay"
MAX_OFFERS = 64
"""Most passages one reply may offer (a reply offering more is refused whole)."""
MAX_FETCH = 8
"""Most passage texts one fetch may ask for (larger asks go in several requests)."""
MAX_TEXT = 6_144
"""Longest text a fetch answers with: a longer passage is not supplied (8 of them fit a frame)."""
_MAX_FIELD = MAX_TEXT
_REF_PREFIX = "reply-to:"
_FLOOR_PREFIX = "min-score:"
_HOLDER_PREFIX = "holder:"
_CONTROL_PREFIXES = (_REF_PREFIX, _FLOOR_PREFIX, _HOLDER_PREFIX)
SPAN_REPLY_SEND, SPAN_REPLY_RECEIVE, SPAN_FETCH = "reply.send", "reply.receive", "passage.fetch"
ATTR_QUERY, ATTR_RESPONDER, ATTR_OFFERS = "synthswarm.query.id", "synthswarm.responder", "synthswarm.offers"
ATTR_EXPECTED, ATTR_ASKED, ATTR_FETCHED = (
    "synthswarm.reply.expected",
    "synthswarm.fetch.asked",
    "synthswarm.fetch.got",
)

#: Serves a fetch for one local agent: the texts of the passage ids it holds (absent ids left out).
FetchFn = Callable[[Sequence[str]], Awaitable[dict[str, str]]]
#: Hands a relayed query (admitted: signed, fresh, not seen before) to one local agent; True when
#: the agent will reply to the asker.
RelayFn = Callable[[OutcomePacket], Awaitable[bool]]


@dataclass(frozen=True)
class Offer:
    """One passage an agent can supply: its id there, the ref answers cite, its title and score."""

    passage_id: str
    source: str
    title: str
    score: float


@dataclass(frozen=True)
class Reply:
    """An agent's answer to a query: the passages it offers. ``holder`` is filled in on receipt."""

    query_id: bytes
    responder: bytes
    offers: tuple[Offer, ...]
    holder: Contact | None = None

    def encode(self) -> bytes:
        return pack(
            [self.query_id, self.responder, [[o.passage_id, o.source, o.title, o.score] for o in self.offers]]
        )

    @classmethod
    def decode(cls, data: bytes, holder: Contact) -> Reply:
        query_id, responder, offers = _fields(unpack_untrusted(data, ProtocolError), 3, "reply")
        items = expect_type(offers, list, "offers", ProtocolError)
        if len(items) > MAX_OFFERS:
            raise ProtocolError(f"reply: {len(items)} offers, at most {MAX_OFFERS}")
        return cls(
            _bytes(query_id, "query id"), _bytes(responder, "responder"), tuple(map(_offer, items)), holder
        )


@dataclass(frozen=True)
class FetchRequest:
    agent_id: bytes
    passage_ids: tuple[str, ...]

    def encode(self) -> bytes:
        return pack([self.agent_id, list(self.passage_ids)])

    @classmethod
    def decode(cls, data: bytes) -> FetchRequest:
        agent_id, ids = _fields(unpack_untrusted(data, ProtocolError), 2, "fetch")
        items = expect_type(ids, list, "passage ids", ProtocolError)
        if len(items) > MAX_FETCH:
            raise ProtocolError(f"fetch: {len(items)} ids, at most {MAX_FETCH}")
        return cls(_bytes(agent_id, "agent id"), tuple(_str(i, "passage id") for i in items))


def reply_ref(contact: Contact) -> str:
    """The evidence ref a query carries so that replies find the asker's node."""
    return f"{_REF_PREFIX}{contact.node_id.hex()}@{contact.address}"


def floor_ref(score: float) -> str:
    """The evidence ref a query carries to say that only passages scoring above ``score`` are worth
    offering (the asker already holds a full context that good)."""
    return f"{_FLOOR_PREFIX}{score:.6f}"


def parse_floor_ref(refs: Sequence[str]) -> float:
    """The least score worth offering that a query names; -inf when it names none or it is malformed."""
    for ref in refs:
        if ref.startswith(_FLOOR_PREFIX):
            try:
                value = float(ref[len(_FLOOR_PREFIX) :])
            except ValueError:
                return float("-inf")
            return value if math.isfinite(value) else float("-inf")
    return float("-inf")


def parse_reply_ref(refs: Sequence[str]) -> Contact | None:
    """The asker's node named in a query's evidence refs; None when there is none or it is malformed."""
    return _parse_contact(refs, _REF_PREFIX)


def holder_ref(contact: Contact) -> str:
    """The evidence ref a finding carries to name the node where its author answers (and can be
    relayed a query that the finding matches)."""
    return f"{_HOLDER_PREFIX}{contact.node_id.hex()}@{contact.address}"


def parse_holder_ref(refs: Sequence[str]) -> Contact | None:
    """The holder's node named in a finding's evidence refs; None when there is none or it is malformed."""
    return _parse_contact(refs, _HOLDER_PREFIX)


def source_refs(refs: Sequence[str]) -> list[str]:
    """A packet's evidence refs less the ones that address nodes or carry a floor: its sources."""
    return [r for r in refs if not r.startswith(_CONTROL_PREFIXES)]


def _parse_contact(refs: Sequence[str], prefix: str) -> Contact | None:
    for ref in refs:
        if not ref.startswith(prefix):
            continue
        node_hex, _, address = ref[len(prefix) :].partition("@")
        try:
            node_id = bytes.fromhex(node_hex)
        except ValueError:
            return None
        return Contact(node_id, address) if len(node_id) == 32 and address else None
    return None


@dataclass
class DirectHost:
    """The reply, fetch and relay handlers of one node, for every agent living on it. Get it with
    :meth:`on`. Relayed queries pass their own :class:`~synthswarm.swarm.admission.PacketAdmission`, so a
    relay
    is refused when it repeats one (an agent reached both by the router and by a relay dedupes
    itself)."""

    node: DHTNode
    waiting: dict[bytes, asyncio.Queue[Reply]] = field(default_factory=dict)
    fetchers: dict[bytes, FetchFn] = field(default_factory=dict)
    relayers: dict[bytes, RelayFn] = field(default_factory=dict)
    admission: PacketAdmission = field(default_factory=PacketAdmission)
    unexpected: int = 0
    """Replies to no query waiting here (late, or never asked for): answered, then dropped."""

    @classmethod
    def on(cls, node: DHTNode) -> DirectHost:
        """The host of ``node``, installing its handlers the first time."""
        handler = node.app_handler(REPLY_TOPIC)
        if isinstance(handler, _Handler):
            return handler.host
        host = cls(node)
        node.register_app(REPLY_TOPIC, _Handler(host, host.on_reply))
        node.register_app(FETCH_TOPIC, _Handler(host, host.on_fetch))
        node.register_app(RELAY_TOPIC, _Handler(host, host.on_relay))
        return host

    def expect(self, query_id: bytes) -> asyncio.Queue[Reply]:
        """Start collecting the replies to ``query_id`` (call :meth:`forget` when done)."""
        return self.waiting.setdefault(query_id, asyncio.Queue())

    def forget(self, query_id: bytes) -> None:
        self.waiting.pop(query_id, None)

    def serve(self, agent_id: bytes, fetch: FetchFn, relay: RelayFn | None = None) -> None:
        """Let other agents fetch texts of ``agent_id``'s passages through this node (and, with
        ``relay``, relay queries to it)."""
        self.fetchers[agent_id] = fetch
        if relay is not None:
            self.relayers[agent_id] = relay

    async def on_reply(self, sender: Contact, payload: bytes) -> bytes:
        reply = Reply.decode(payload, sender)
        queue = self.waiting.get(reply.query_id)
        with span(SPAN_REPLY_RECEIVE, kind=SpanKind.CONSUMER, attributes=_reply_attributes(reply)) as current:
            current.set_attribute(ATTR_EXPECTED, queue is not None)
        if queue is None:
            self.unexpected += 1
        else:
            queue.put_nowait(reply)
        return b""

    async def on_fetch(self, sender: Contact, payload: bytes) -> bytes:
        request = FetchRequest.decode(payload)
        fetch = self.fetchers.get(request.agent_id)
        if fetch is None:
            raise DHTError("no such agent here")
        texts = await fetch(request.passage_ids)
        return pack(
            [[i, t] for i in request.passage_ids if (t := texts.get(i)) is not None and len(t) <= MAX_TEXT]
        )

    async def on_relay(self, sender: Contact, payload: bytes) -> bytes:
        agent_id, data = _fields(unpack_untrusted(payload, ProtocolError), 2, "relay")
        agent, packet_bytes = _bytes(agent_id, "agent id"), _bytes(data, "packet")
        handle = self.relayers.get(agent)
        if handle is None:
            raise DHTError("no such agent here")
        try:
            packet = self.admission.admit(packet_bytes, agent)
        except PacketReplayError:
            return pack(False)
        except PacketError as exc:
            raise ProtocolError(f"relayed packet refused: {exc}") from exc
        if packet.kind is not PacketKind.QUERY:
            raise ProtocolError("relay: only queries are relayed")
        return pack(bool(await handle(packet)))

    async def relay(self, to: Contact, agent_id: bytes, query: OutcomePacket) -> bool | None:
        """Relay ``query`` to the agent ``agent_id`` at ``to``: True when it promised the asker a reply,
        False when it had nothing, had the query already or refused it, None when it could not be
        reached (no answer, or too busy to serve)."""
        payload = pack([agent_id, encode_packet(query)])
        try:
            if to.node_id == self.node.node_id:
                answer = await self.on_relay(self.node.contact, payload)
            else:
                answer = await self.node.app_request(to, RELAY_TOPIC, payload, category=RELAY)
            return expect_type(unpack_untrusted(answer, ProtocolError), bool, "relay answer", ProtocolError)
        except (RPCTimeoutError, PeerBusyError):
            return None
        except DHTError:
            return False

    async def send_reply(self, to: Contact, reply: Reply) -> bool:
        """Send ``reply`` to the asker's node; False when it could not be reached."""
        with span(SPAN_REPLY_SEND, kind=SpanKind.PRODUCER, attributes=_reply_attributes(reply)) as current:
            if to.node_id == self.node.node_id:
                await self.on_reply(self.node.contact, reply.encode())
                return True
            try:
                await self.node.app_request(to, REPLY_TOPIC, reply.encode(), category=REPLY)
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
                request = FetchRequest(agent_id, tuple(passage_ids[start : start + MAX_FETCH]))
                try:
                    if holder.node_id == self.node.node_id:
                        data = await self.on_fetch(holder, request.encode())
                    else:
                        data = await self.node.app_request(
                            holder, FETCH_TOPIC, request.encode(), category=FETCH
                        )
                    out.update(decode_texts(data, set(request.passage_ids)))
                except DHTError:
                    continue  # ProtocolError is a DHTError: a garbled answer supplies nothing
            current.set_attribute(ATTR_FETCHED, len(out))
        return out


def _reply_attributes(reply: Reply) -> dict[str, AttributeValue]:
    return {
        ATTR_QUERY: reply.query_id.hex(),
        ATTR_RESPONDER: reply.responder.hex(),
        ATTR_OFFERS: len(reply.offers),
    }


@dataclass(frozen=True)
class _Handler:
    """An app handler that knows its host (so :meth:`DirectHost.on` finds the host of a node)."""

    host: DirectHost
    handle: Callable[[Contact, bytes], Awaitable[bytes]]

    async def __call__(self, sender: Contact, payload: bytes) -> bytes:
        return await self.handle(sender, payload)


def decode_texts(data: bytes, asked: set[str]) -> dict[str, str]:
    """A fetch's answer: the texts of the ids asked for (anything else in it is ignored)."""
    items = expect_type(unpack_untrusted(data, ProtocolError), list, "fetched", ProtocolError)
    out = {}
    for item in items[:MAX_FETCH]:
        passage_id, text = _fields(item, 2, "fetched text")
        key = _str(passage_id, "passage id")
        if key in asked:
            out[key] = _str(text, "text")
    return out


def _offer(item: object) -> Offer:
    passage_id, source, title, score = _fields(item, 4, "offer")
    number = expect_type(score, float, "score", ProtocolError)
    if not math.isfinite(number):
        raise ProtocolError("offer: score is not finite")
    return Offer(_str(passage_id, "passage id"), _str(source, "source"), _str(title, "title"), number)


def _fields(value: object, n: int, name: str) -> list[object]:
    return expect_fields(value, n, name, ProtocolError)


def _bytes(value: object, name: str) -> bytes:
    return expect_type(value, bytes, name, ProtocolError)


def _str(value: object, name: str) -> str:
    text = expect_type(value, str, name, ProtocolError)
    if len(text) > _MAX_FIELD:
        raise ProtocolError(f"{name}: {len(text)} characters, at most {_MAX_FIELD}")
    return text
