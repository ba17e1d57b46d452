"""The routers' own messages: rendezvous requests and answers, subscription records, hub and gossip.

Each is a msgspec struct sent as an array of its fields (:mod:`synthswarm.swarm._codec`)::

    semantic.rendezvous  [keys: [bin] (1..MAX_KEYS), query: bin]  -> [answer, ...], one per key
        query      [vector: bin (int8), scale: float, m: int, threshold: float, replicas: int]
                   (encoded once per packet, carried as bytes by every request for it)
        answer     ["candidates", [[agent_id, node_id, address, score], ...], overflowed: bool]
                 | ["closer", [[node_id, address], ...]]
    subscription record (a DHT value)  [agent_id, node_id, address, vector: bin (int8), scale]
    hub.subscribe        [agent_id: bin, vectors: bin (<f4), rows: int]  -> (empty)
    hub.publish          [publisher: bin, packet: bin]      -> [[agent_id, ...], [outcome, ...]]
    gossip.forward       [packet: bin, budget: int]         -> [forwards: int, [[agent_id, outcome], ...]]

Floats are finite. Every ``decode_*`` reads untrusted bytes and raises nothing but
:class:`~synthswarm.swarm.errors.ProtocolError`; lists an answer may make long are read whole and
then cut to what the reader uses.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np
import numpy.typing as npt

from synthswarm.swarm._codec import Finite, WireStruct, decode
from synthswarm.swarm._host_messages import Outcome
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.dht.messages import MAX_CONTACTS
from synthswarm.swarm.errors import ProtocolError
from synthswarm.swarm.packet import CompactEmbedding, EmbeddingDType

__all__ = [
    "MAX_CANDIDATES",
    "MAX_KEYS",
    "Candidate",
    "Candidates",
    "Closer",
    "GossipForward",
    "GossipSpread",
    "HubDelivered",
    "HubPublish",
    "HubSubscribe",
    "Reached",
    "RendezvousQuery",
    "RendezvousRequest",
    "Subscription",
    "decode_gossip_forward",
    "decode_gossip_spread",
    "decode_hub_delivered",
    "decode_hub_publish",
    "decode_hub_subscribe",
    "decode_query",
    "decode_rendezvous_replies",
    "decode_rendezvous_request",
    "decode_subscription",
]

MAX_CANDIDATES = 64
"""Most candidates a rendezvous answers one key with (more in an answer are ignored)."""
MAX_KEYS = 64
"""Most keys one rendezvous request may name (a request naming more is refused whole)."""
_MAX_CLOSER = 8
"""Most closer contacts read from one answer."""
MAX_REACHED = 4096
"""Most agents one gossip forward may claim to have reached (a bound on untrusted replies)."""


class RendezvousQuery(WireStruct, frozen=True):
    """What a rendezvous ranks its subscribers against: a packet's int8 embedding, and how many."""

    vector: bytes
    scale: Finite
    m: int
    threshold: Finite
    replicas: Annotated[int, msgspec.Meta(ge=1, le=MAX_CONTACTS)]

    def embedding(self) -> npt.NDArray[np.float32]:
        return CompactEmbedding(EmbeddingDType.INT8, self.scale, self.vector).to_array()


class RendezvousRequest(WireStruct, frozen=True):
    keys: Annotated[tuple[bytes, ...], msgspec.Meta(min_length=1, max_length=MAX_KEYS)]
    query: bytes
    """A :class:`RendezvousQuery`, encoded once for every request the packet costs."""


class Candidate(WireStruct, frozen=True):
    """A subscriber a rendezvous offers for a key: who, where, and its cosine to the packet."""

    agent_id: bytes
    node_id: bytes
    address: str
    score: Finite

    @property
    def contact(self) -> Contact:
        return Contact(self.node_id, self.address)


class Candidates(WireStruct, frozen=True, tag="candidates"):
    """A rendezvous's answer for a key it holds; ``overflowed`` sends the publisher one level down."""

    candidates: tuple[Candidate, ...]
    overflowed: bool = False


class Closer(WireStruct, frozen=True, tag="closer"):
    """The answer for a key the node does not hold: contacts nearer to it."""

    contacts: tuple[Contact, ...]


class Subscription(WireStruct, frozen=True):
    """One interest row of an agent, as stored under its bucket's key."""

    agent_id: bytes
    node_id: bytes
    address: str
    vector: bytes
    scale: Finite

    @classmethod
    def of(cls, agent_id: bytes, contact: Contact, vector: npt.NDArray[np.float32]) -> Subscription:
        emb = CompactEmbedding.from_vector(vector)
        return cls(agent_id, contact.node_id, contact.address, emb.data, emb.scale)

    @property
    def contact(self) -> Contact:
        return Contact(self.node_id, self.address)

    def embedding(self) -> npt.NDArray[np.float32]:
        return CompactEmbedding(EmbeddingDType.INT8, self.scale, self.vector).to_array()


class HubSubscribe(WireStruct, frozen=True):
    agent_id: bytes
    vectors: bytes
    """The interest rows, little-endian float32, row after row."""
    rows: int


class HubPublish(WireStruct, frozen=True):
    publisher: bytes
    packet: bytes


class HubDelivered(WireStruct, frozen=True):
    """The hub's answer: the agents it chose and, in the same order, what each delivery did."""

    agents: tuple[bytes, ...]
    outcomes: tuple[int, ...]


class GossipForward(WireStruct, frozen=True):
    packet: bytes
    budget: int
    """Forwards this node and those below it may still send."""


class Reached(WireStruct, frozen=True):
    agent_id: bytes
    outcome: Outcome


class GossipSpread(WireStruct, frozen=True):
    """A forward's answer, once its subtree is done: the forwards sent below it, the agents reached."""

    forwards: int
    reached: tuple[Reached, ...]


def decode_rendezvous_request(payload: bytes) -> RendezvousRequest:
    return decode(_REQUEST, payload, ProtocolError, "rendezvous request")


def decode_query(data: bytes) -> RendezvousQuery:
    return decode(_QUERY, data, ProtocolError, "rendezvous query")


def decode_rendezvous_replies(reply: bytes, n: int) -> list[Candidates | Closer]:
    """A rendezvous reply: one answer per key asked, in order; the candidates and contacts cut to
    what a publisher reads."""
    answers = decode(_REPLIES, reply, ProtocolError, "rendezvous reply")
    if len(answers) != n:
        raise ProtocolError(f"rendezvous reply: expected {n} answers, got {len(answers)}")
    return [_cut(a) for a in answers]


def decode_subscription(data: bytes) -> Subscription:
    return decode(_SUBSCRIPTION, data, ProtocolError, "subscription")


def decode_hub_subscribe(payload: bytes) -> HubSubscribe:
    return decode(_HUB_SUBSCRIBE, payload, ProtocolError, "hub.subscribe")


def decode_hub_publish(payload: bytes) -> HubPublish:
    return decode(_HUB_PUBLISH, payload, ProtocolError, "hub.publish")


def decode_hub_delivered(reply: bytes) -> list[tuple[bytes, Outcome]]:
    """The agents the hub reached (delivered or promised a follow-up), with what each did."""
    answer = decode(_HUB_DELIVERED, reply, ProtocolError, "delivered")
    return [(a, Outcome(o)) for a, o in zip(answer.agents, answer.outcomes, strict=False) if o in (1, 2)]


def decode_gossip_forward(payload: bytes) -> GossipForward:
    return decode(_GOSSIP_FORWARD, payload, ProtocolError, "gossip")


def decode_gossip_spread(reply: bytes) -> tuple[int, dict[bytes, Outcome]]:
    """A forward's answer: (forwards sent below it, {agent: outcome} for agents reached there)."""
    spread = decode(_GOSSIP_SPREAD, reply, ProtocolError, "gossip reply")
    return max(0, spread.forwards), {r.agent_id: r.outcome for r in spread.reached[:MAX_REACHED]}


def _cut(answer: Candidates | Closer) -> Candidates | Closer:
    if isinstance(answer, Candidates):
        return Candidates(answer.candidates[:MAX_CANDIDATES], answer.overflowed)
    return Closer(answer.contacts[:_MAX_CLOSER])


_REQUEST = msgspec.msgpack.Decoder(RendezvousRequest)
_QUERY = msgspec.msgpack.Decoder(RendezvousQuery)
_REPLIES = msgspec.msgpack.Decoder(tuple[Candidates | Closer, ...])
_SUBSCRIPTION = msgspec.msgpack.Decoder(Subscription)
_HUB_SUBSCRIBE = msgspec.msgpack.Decoder(HubSubscribe)
_HUB_PUBLISH = msgspec.msgpack.Decoder(HubPublish)
_HUB_DELIVERED = msgspec.msgpack.Decoder(HubDelivered)
_GOSSIP_FORWARD = msgspec.msgpack.Decoder(GossipForward)
_GOSSIP_SPREAD = msgspec.msgpack.Decoder(GossipSpread)
