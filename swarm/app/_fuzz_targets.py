"""What the byte fuzzer knows of our formats: valid seed inputs of every one, and the decoders that
read each of them from untrusted bytes (packets, admission, RPC frames, and every application payload
and answer: the host's deliver, reply, fetch and relay, the rendezvous', the hub's and gossip's).

A target names its decoder and the only errors it may raise; a target that runs several decoders lets
each one refuse an input with a ProtocolError, and anything else out of any of them is a crash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from synthswarm.swarm._codec import encode
from synthswarm.swarm._host_messages import (
    DELIVER_TOPIC,
    FETCH_TOPIC,
    RELAY_TOPIC,
    REPLY_TOPIC,
    Delivery,
    FetchedText,
    FetchRequest,
    Offer,
    Outcome,
    Reply,
    decode_delivery,
    decode_outcome,
    decode_promise,
    decode_texts,
)
from synthswarm.swarm.admission import PacketAdmission
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import (
    AppReply,
    AppRequest,
    Envelope,
    ErrorReply,
    FindNode,
    FindValue,
    FoundNodes,
    FoundValue,
    Ping,
    Pong,
    Record,
    Store,
    Stored,
    decode_frame,
    encode_frame,
)
from synthswarm.swarm.errors import PacketError, ProtocolError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import PacketKind, decode_packet, encode_packet, make_packet
from synthswarm.swarm.routers._messages import (
    Candidate,
    Candidates,
    Closer,
    GossipForward,
    GossipSpread,
    HubDelivered,
    HubPublish,
    HubSubscribe,
    Reached,
    RendezvousQuery,
    RendezvousRequest,
    Subscription,
    decode_gossip_forward,
    decode_gossip_spread,
    decode_hub_delivered,
    decode_hub_publish,
    decode_hub_subscribe,
    decode_query,
    decode_rendezvous_replies,
    decode_rendezvous_request,
    decode_subscription,
)
from synthswarm.swarm.routers._rendezvous import RENDEZVOUS_TOPIC
from synthswarm.swarm.routers.baselines import GOSSIP_TOPIC, HUB_PUBLISH, HUB_SUBSCRIBE

__all__ = ["PAYLOAD_DECODERS", "Target", "byte_targets", "seed_frames", "seed_packets"]


def seed_packets(seed: int = 0) -> list[bytes]:
    """Valid packets of every kind, with and without parents and evidence."""
    rng = np.random.default_rng(seed)
    who = Identity.from_seed(bytes(range(32)))
    out = []
    for i, kind in enumerate(PacketKind):
        parents = [bytes([i]) * 32] if kind is PacketKind.SYNTHESIS else []
        packet = make_packet(
            who,
            kind=kind,
            topic=f"topic {i}",
            finding="Ilse Korrin founded the observatory in 1874. " * (i + 1),
            embedding=rng.standard_normal(384),
            parents=parents,
            evidence=[f"doc-{i}#p{j}" for j in range(i)],
        )
        out.append(encode_packet(packet))
    return out


def seed_frames(seed: int = 0) -> list[bytes]:
    """A valid frame of every message type, application requests carrying real payloads."""
    who = Identity.from_seed(bytes(range(1, 33)))
    packets = seed_packets(seed)
    packet, query = packets[0], packets[list(PacketKind).index(PacketKind.QUERY)]
    contacts = tuple(Contact(bytes([i]) * 32, f"tcp://10.0.0.{i}:7400") for i in range(3))
    messages = [
        Ping(),
        Pong(),
        FindNode(bytes(32), 20),
        FoundNodes(contacts),
        Store(bytes(32), Record(b"s", b"v", 60)),
        Stored(True),
        FindValue(bytes(32)),
        FoundValue((Record(b"s", b"value", 60),), contacts),
        ErrorReply("busy", "x"),
        AppReply(encode((Candidates(()),))),
        *(AppRequest(topic, payload) for topic, payload in _seed_requests(packet, query)),
    ]
    return [encode_frame(Envelope(bytes(8), who.public_key, "tcp://127.0.0.1:7400", m)) for m in messages]


def _seed_requests(packet: bytes, query: bytes) -> list[tuple[str, bytes]]:
    """A valid payload of every application request a node serves: (topic, payload)."""
    rows = np.ones((1, 48), "<f4").tobytes()
    return [
        (DELIVER_TOPIC, encode(Delivery(bytes(32), packet))),
        (RENDEZVOUS_TOPIC, _seed_rendezvous(bytes(32), bytes(range(32)))),
        (REPLY_TOPIC, _seed_reply().encode()),
        (FETCH_TOPIC, FetchRequest(bytes(32), ("p1", "p2")).encode()),
        (RELAY_TOPIC, encode(Delivery(bytes(32), query))),
        (HUB_SUBSCRIBE, encode(HubSubscribe(bytes(32), rows, 1))),
        (HUB_PUBLISH, encode(HubPublish(bytes(32), packet))),
        (GOSSIP_TOPIC, encode(GossipForward(packet, 2))),
    ]


def _seed_rendezvous(*keys: bytes) -> bytes:
    return encode(RendezvousRequest(keys, encode(RendezvousQuery(bytes(range(48)), 0.01, 10, 0.0, 8))))


#: name -> (decoder, the errors it may raise, seed inputs)
Target = tuple[Callable[[bytes], Any], tuple[type[BaseException], ...], list[bytes]]


def byte_targets(seed: int = 0) -> dict[str, Target]:
    packets, frames = seed_packets(seed), seed_frames(seed)
    contact = Contact(bytes(32), "tcp://h:1")
    rendezvous = [
        _seed_rendezvous(bytes(32)),
        encode((Candidates((Candidate(bytes(32), bytes(32), "tcp://h:1", 0.5),), True), Closer((contact,)))),
        encode(Subscription.of(bytes(32), contact, np.ones(48, np.float32))),
    ]
    admission = PacketAdmission()
    direct = [
        _seed_reply().encode(),
        FetchRequest(bytes(32), ("p1",)).encode(),
        encode([FetchedText("p1", "text")]),
        encode(Delivery(bytes(32), packets[0])),
        encode(True),
        encode(Outcome.FOLLOW_UP),
    ]
    routers = [
        encode(HubSubscribe(bytes(32), np.ones((2, 4), "<f4").tobytes(), 2)),
        encode(HubPublish(bytes(32), packets[0])),
        encode(HubDelivered((bytes(32),), (1,))),
        encode(GossipForward(packets[0], 3)),
        encode(GossipSpread(2, (Reached(bytes(32), Outcome.DELIVERED),))),
    ]
    return {
        "packet": (decode_packet, (PacketError,), packets),
        "admission": (lambda d: admission.admit(d, b"agent"), (PacketError,), packets),
        "frame": (decode_frame, (ProtocolError,), frames),
        "delivery": (decode_delivery, (ProtocolError,), [encode(Delivery(bytes(32), p)) for p in packets]),
        "rendezvous": (_each("rendezvous"), (), rendezvous),
        "direct": (_each("direct"), (), direct),
        "hub and gossip": (_each("hub and gossip"), (), routers),
    }


def _seed_reply() -> Reply:
    return Reply(bytes(32), bytes(range(32)), (Offer("p1", "Some Title", "Some Title", 1.25),))


_HOLDER = Contact(bytes(32), "inproc://x")
#: By group, every decoder of an application payload or answer, as a node and its askers run them.
PAYLOAD_DECODERS: dict[str, tuple[Callable[[bytes], object], ...]] = {
    "direct": (
        decode_delivery, decode_outcome, decode_promise, FetchRequest.decode,
        lambda d: decode_texts(d, {"p1"}), lambda d: Reply.decode(d, _HOLDER),
    ),
    "rendezvous": (
        lambda d: decode_query(decode_rendezvous_request(d).query), decode_query,
        lambda d: decode_rendezvous_replies(d, 2), decode_subscription,
    ),
    "hub and gossip": (
        decode_hub_subscribe, decode_hub_publish, decode_hub_delivered, decode_gossip_forward,
        decode_gossip_spread,
    ),
}  # fmt: skip


def _each(group: str) -> Callable[[bytes], None]:
    """The bytes through every decoder of ``group``: each may refuse them, only with a ProtocolError."""

    def run(data: bytes) -> None:
        for decoder in PAYLOAD_DECODERS[group]:
            with contextlib.suppress(ProtocolError):
                decoder(data)

    return run
