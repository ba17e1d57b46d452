"""The messages of the four requests a node's host serves: deliver, reply, fetch and relay.

Each is a msgspec struct sent as an array of its fields (:mod:`synthswarm.swarm._codec`)::

    swarm.deliver   [agent_id: bin, packet: bin]                    -> outcome: int (Outcome)
    swarm.reply     [query_id: bin, responder: bin, offers]         -> (empty)
                    offer = [passage_id: str, source: str, title: str, score: float (finite)]
    swarm.fetch     [agent_id: bin, passage_ids: [str] (<= MAX_FETCH)] -> [[passage_id, text], ...]
    swarm.relay     [agent_id: bin, packet: bin] (a query)          -> promised a reply: bool

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
from synthswarm.swarm.packet import OutcomePacket

__all__ = [
    "DELIVER_TOPIC",
    "FETCH",
    "FETCH_TOPIC",
    "MAX_FETCH",
    "MAX_OFFERS",
    "MAX_TEXT",
    "RELAY",
    "RELAY_TOPIC",
    "REPLY",
    "REPLY_TOPIC",
    "Delivery",
    "FetchRequest",
    "FetchedText",
    "Offer",
    "Outcome",
    "Reply",
    "ReplyMessage",
    "asked_texts",
    "decode_delivery",
    "decode_outcome",
    "decode_promise",
    "decode_texts",
    "encode_delivery",
]

DELIVER_TOPIC = "swarm.deliver"
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

_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]


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
    """One passage an agent can supply: its id there, the ref answers cite, its title and score."""

    passage_id: _Text
    source: _Text
    title: _Text
    score: Finite


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
_OUTCOME = msgspec.msgpack.Decoder(Outcome)
_BOOL = msgspec.msgpack.Decoder(bool)
