"""The messages of the requests a node's host serves: deliver, reply, fetch, relay and handoff.

Each is a msgspec struct sent as an array of its fields (:mod:`synthswarm.swarm._codec`)::

    swarm.deliver   [agent_id: bin, packet: bin]                    -> outcome: int (Outcome)
    swarm.reply     [query_id: bin, responder: bin, offers]         -> (empty)
                    offer = [passage_id: str, source: str, title: str, score: float (finite),
                             refs: [str] (a claim's evidence refs; empty for a passage)]
    swarm.fetch     [agent_id: bin, passage_ids: [str] (<= MAX_FETCH)] -> [[passage_id, text], ...]
    swarm.relay     [agent_id: bin, packet: bin] (a query)          -> promised a reply: bool
    swarm.handoff   [handoff_id: bin, agent_id: bin, question: str, answer: bool] -> accepted: bool
    swarm.handed    [handoff_id: bin, responder: bin, text: str, evidence, messages, hops, rounds, cut]
                    -> (empty);  evidence = [text, source, score, packet_id, origin, refs, via]

A handoff gives a question to one agent on another node (the one the entry step chose to answer it):
the agent accepts at once, and sends what it found (and, when asked, its answer) back later in a
``swarm.handed`` request, so the wait for a long answer never runs into an RPC timeout.

Texts are at most :data:`MAX_TEXT` characters; a reply offers at most :data:`MAX_OFFERS` passages. A
message over a cap is refused whole, never cut. Every decoder reads untrusted bytes and raises nothing
but :class:`~synthswarm.swarm.errors.ProtocolError`. The packets inside stay bytes here: admission
decodes and verifies them, and counts what it refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated

import msgspec

from synthswarm.swarm._codec import Finite, WireStruct, decode, encode
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.errors import ProtocolError
from synthswarm.swarm.packet import MAX_EVIDENCE, MAX_EVIDENCE_REF_BYTES, OutcomePacket

__all__ = [
    "DELIVER_TOPIC",
    "FETCH",
    "FETCH_TOPIC",
    "HANDED_BYTES",
    "HANDED_TOPIC",
    "HANDOFF",
    "HANDOFF_TOPIC",
    "MAX_FETCH",
    "MAX_HANDED",
    "MAX_OFFERS",
    "MAX_QUESTION",
    "MAX_TEXT",
    "RELAY",
    "RELAY_TOPIC",
    "REPLY",
    "REPLY_TOPIC",
    "Delivery",
    "FetchRequest",
    "FetchedText",
    "Handed",
    "HandedEvidence",
    "HandoffRequest",
    "Offer",
    "Outcome",
    "Reply",
    "ReplyMessage",
    "asked_texts",
    "decode_accepted",
    "decode_delivery",
    "decode_outcome",
    "decode_promise",
    "decode_texts",
    "encode_delivery",
    "fit_handed",
]

DELIVER_TOPIC = "swarm.deliver"
REPLY_TOPIC = "swarm.reply"
FETCH_TOPIC = "swarm.fetch"
RELAY_TOPIC = "swarm.relay"
HANDOFF_TOPIC = "swarm.handoff"
HANDED_TOPIC = "swarm.handed"
#: Request categories in :class:`~synthswarm.swarm.dht.node.NodeStats` (what ``rpcs_sent`` counts them under).
REPLY, FETCH, RELAY, HANDOFF = "reply", "fetch", "relay", "handoff"
MAX_OFFERS = 64
"""Most passages one reply may offer (a reply offering more is refused whole)."""
MAX_FETCH = 8
"""Most passage texts one fetch may ask for (larger asks go in several requests)."""
MAX_TEXT = 6_144
"""Longest text a fetch answers with: a longer passage is not supplied (8 of them fit a frame)."""

MAX_QUESTION = 4_096
"""Longest question a handoff carries (a longer one is refused, never cut)."""
MAX_HANDED = 16
"""Most evidence items one handed answer carries."""

_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
_Ref = Annotated[str, msgspec.Meta(max_length=MAX_EVIDENCE_REF_BYTES)]


class Outcome(IntEnum):
    """What one delivery did; false only when the agent was not reached (or already had the packet)."""

    MISSED = 0
    DELIVERED = 1
    FOLLOW_UP = 2
    """Delivered, and the agent promised a follow-up packet."""


class Delivery(WireStruct, frozen=True):
    """A packet for one agent on the receiving node, as its wire bytes: what ``swarm.deliver``
    carries, and ``swarm.relay`` (a query the agent may reply to)."""

    agent_id: bytes
    packet: bytes


class Offer(WireStruct, frozen=True):
    """One passage an agent can supply: its id there, the ref answers cite, its title and score. Or,
    with ``refs``, a claim it holds (a synthesis that matched the query): ``source`` is the claim's key
    (``packet:<id hex>``), and ``refs`` are the claim's evidence refs, the passages it cites and the
    paths where their holders serve them. The asker never takes a claim as evidence; it may follow it
    to those passages. ``refs`` is on the wire for a passage too, empty (msgspec does not omit an
    array-like struct's defaults), so a node built before claims were offered refuses every reply from
    one built after."""

    passage_id: _Text
    source: _Text
    title: _Text
    score: Finite
    refs: Annotated[tuple[_Ref, ...], msgspec.Meta(max_length=MAX_EVIDENCE)] = ()


class ReplyMessage(WireStruct, frozen=True):
    """A :class:`Reply` as it travels: everything but its holder."""

    query_id: bytes
    responder: bytes
    offers: Annotated[tuple[Offer, ...], msgspec.Meta(max_length=MAX_OFFERS)]


@dataclass(frozen=True)
class Reply:
    """An agent's answer to a query: the passages it offers. ``holder`` is filled in on receipt: the
    node that sent it (the request's proven sender), never a field of the message, so a node can offer
    only passages it will itself be asked to serve."""

    query_id: bytes
    responder: bytes
    offers: tuple[Offer, ...]
    holder: Contact | None = None

    def message(self) -> ReplyMessage:
        return ReplyMessage(self.query_id, self.responder, self.offers)

    def encode(self) -> bytes:
        return encode(self.message())

    @classmethod
    def decode(cls, data: bytes, holder: Contact) -> Reply:
        wire = decode(_REPLY, data, ProtocolError, "reply")
        return cls(wire.query_id, wire.responder, wire.offers, holder)


class FetchRequest(WireStruct, frozen=True):
    """Ask the agent ``agent_id`` for the texts of some of its passages."""

    agent_id: bytes
    passage_ids: Annotated[tuple[_Text, ...], msgspec.Meta(max_length=MAX_FETCH)]

    def encode(self) -> bytes:
        return encode(self)

    @classmethod
    def decode(cls, data: bytes) -> FetchRequest:
        return decode(_FETCH, data, ProtocolError, "fetch")


class FetchedText(WireStruct, frozen=True):
    """One text a fetch answers with."""

    passage_id: _Text
    text: _Text


class HandoffRequest(WireStruct, frozen=True):
    """Ask the agent ``agent_id`` to take a question over: gather its context (and, with ``answer``,
    answer it), then send a :class:`Handed` back to the asking node under ``handoff_id``."""

    handoff_id: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
    agent_id: bytes
    question: Annotated[str, msgspec.Meta(max_length=MAX_QUESTION)]
    answer: bool = False

    @classmethod
    def decode(cls, data: bytes) -> HandoffRequest:
        return decode(_HANDOFF, data, ProtocolError, "handoff")


class HandedEvidence(WireStruct, frozen=True):
    """One item of the context an agent that took a question over gathered."""

    text: _Text
    source: _Text
    score: Finite
    packet_id: bytes | None = None
    origin: bytes | None = None
    refs: Annotated[tuple[_Text, ...], msgspec.Meta(max_length=64)] = ()
    via: bytes | None = None


class Handed(WireStruct, frozen=True):
    """What an agent that took a question over sends back: its answer's text (empty when only the
    context was asked for), the context, and what gathering it cost at that agent's node. ``cut``:
    evidence items left out to fit one frame (the best are kept)."""

    handoff_id: bytes
    responder: bytes
    text: _Text
    evidence: Annotated[tuple[HandedEvidence, ...], msgspec.Meta(max_length=MAX_HANDED)]
    messages: int = 0
    hops: int = 0
    rounds: int = 0
    cut: int = 0

    @classmethod
    def decode(cls, data: bytes) -> Handed:
        return decode(_HANDED, data, ProtocolError, "handed")


HANDED_BYTES = 56 * 1024
"""Most bytes a :class:`Handed` may take, so that it fits one frame with its envelope."""


def fit_handed(handed: Handed) -> Handed:
    """``handed`` with as many of its evidence items (best first, as given) as fit
    :data:`HANDED_BYTES` and :data:`MAX_HANDED`; ``cut`` counts the ones left out."""
    kept = handed.evidence[:MAX_HANDED]
    while kept and len(encode(msgspec.structs.replace(handed, evidence=kept))) > HANDED_BYTES:
        kept = kept[:-1]
    return msgspec.structs.replace(handed, evidence=kept, cut=handed.cut + len(handed.evidence) - len(kept))


def decode_accepted(answer: bytes) -> bool:
    """A handoff's answer: whether the agent took the question over."""
    return decode(_BOOL, answer, ProtocolError, "handoff answer")


def encode_delivery(agent_id: bytes, packet: OutcomePacket) -> bytes:
    """The ``swarm.deliver`` payload handing ``packet`` to ``agent_id`` (its wire bytes, encoded once)."""
    return encode(Delivery(agent_id, packet.wire))


def decode_delivery(payload: bytes) -> tuple[bytes, bytes]:
    """``(agent_id, packet bytes)`` of a ``swarm.deliver`` payload."""
    delivery = decode(_DELIVERY, payload, ProtocolError, "delivery")
    return delivery.agent_id, delivery.packet


def decode_outcome(answer: bytes) -> Outcome:
    """A remote host's answer to a delivery; anything unreadable still means the request was served."""
    try:
        return _OUTCOME.decode(answer)
    except (msgspec.DecodeError, RecursionError):
        return Outcome.DELIVERED


def decode_promise(answer: bytes) -> bool:
    """A relay's answer: whether the agent promised the asker a reply."""
    return decode(_BOOL, answer, ProtocolError, "relay answer")


def decode_texts(data: bytes, asked: set[str]) -> dict[str, str]:
    """A fetch's answer: the texts of the ids asked for (anything else in it is ignored)."""
    texts: tuple[FetchedText, ...] = decode(_TEXTS, data, ProtocolError, "fetched")
    return asked_texts(texts, asked)


def asked_texts(texts: Sequence[FetchedText], asked: set[str]) -> dict[str, str]:
    """The texts of the ids asked for, from at most :data:`MAX_FETCH` answered."""
    return {t.passage_id: t.text for t in texts[:MAX_FETCH] if t.passage_id in asked}


_DELIVERY = msgspec.msgpack.Decoder(Delivery)
_REPLY = msgspec.msgpack.Decoder(ReplyMessage)
_FETCH = msgspec.msgpack.Decoder(FetchRequest)
_TEXTS = msgspec.msgpack.Decoder(tuple[FetchedText, ...])
_HANDOFF = msgspec.msgpack.Decoder(HandoffRequest)
_HANDED = msgspec.msgpack.Decoder(Handed)
_OUTCOME = msgspec.msgpack.Decoder(Outcome)
_BOOL = msgspec.msgpack.Decoder(bool)
