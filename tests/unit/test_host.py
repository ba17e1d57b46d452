"""The node's one host: one object and one admission per node, the one local path, packets that keep
their wire bytes, and messages laid out on the wire as they always were."""

from __future__ import annotations

import dataclasses

import msgpack
import numpy as np
import pytest

from synthswarm.swarm import admission as admission_module
from synthswarm.swarm._codec import encode
from synthswarm.swarm._host_messages import (
    DELIVER_TOPIC,
    Delivery,
    FetchedText,
    FetchRequest,
    Offer,
    Outcome,
    Reply,
    decode_outcome,
)
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, decode_packet, make_packet
from synthswarm.swarm.routers import BroadcastRouter
from synthswarm.swarm.routers._base import RouterStats
from synthswarm.swarm.routers._messages import (
    Candidate,
    Candidates,
    Closer,
    GossipSpread,
    Reached,
    RendezvousQuery,
    RendezvousRequest,
)

ALICE = Identity.from_seed(b"\x01" * 32)


def finding(text: str = "f") -> OutcomePacket:
    return make_packet(ALICE, kind=PacketKind.FINDING, topic="t", finding=text, embedding=np.ones(8))


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every packet admission decodes (and verifies) from bytes."""
    seen: list[bytes] = []

    def counting(data: bytes) -> OutcomePacket:
        seen.append(data)
        return decode_packet(data)

    monkeypatch.setattr(admission_module, "decode_packet", counting)
    return seen


async def test_one_host_per_node() -> None:
    async with launch_swarm(1) as [node]:
        host = NodeHost.on(node)
        assert NodeHost.on(node) is host
        assert node.app_handler(DELIVER_TOPIC) == host.on_deliver


async def test_a_packet_made_here_reaches_a_local_agent_without_a_second_decode(decodes: list[bytes]) -> None:
    async with launch_swarm(2) as nodes:
        router = BroadcastRouter()
        got: dict[bytes, list[OutcomePacket]] = {b"near": [], b"far": []}

        async def near(packet: OutcomePacket) -> None:
            got[b"near"].append(packet)

        async def far(packet: OutcomePacket) -> None:
            got[b"far"].append(packet)

        async def ignore(packet: OutcomePacket) -> None:
            pass

        await router.subscribe(b"alice", np.ones(8), ignore, node=nodes[0])
        await router.subscribe(b"near", np.ones(8), near, node=nodes[0])
        await router.subscribe(b"far", np.ones(8), far, node=nodes[1])
        packet = finding()
        report = await router.publish(packet, publisher=b"alice")
        assert set(report.delivered_to) == {b"near", b"far"}
        assert report.messages == 1  # the local delivery costs no message
        assert got[b"near"] == [packet]
        assert got[b"near"][0] is packet
        assert decodes == [packet.wire]  # only the remote host decoded, from the bytes made once
        assert got[b"far"] == [packet]
        assert got[b"far"][0].verified


async def test_a_changed_copy_of_a_packet_is_verified_like_a_stranger(decodes: list[bytes]) -> None:
    async with launch_swarm(1) as [node]:
        host, stats = NodeHost.on(node), RouterStats()

        async def deliver(packet: OutcomePacket) -> None:
            pass

        host.add(b"bob", deliver, stats)
        packet = finding("true")
        tampered = dataclasses.replace(packet, finding="false")
        assert not tampered.verified
        assert tampered.wire != packet.wire
        assert await host.deliver(node.contact, b"bob", tampered, category="test") is Outcome.MISSED
        assert (stats.rejected, stats.forged, decodes) == (1, 1, [tampered.wire])
        assert await host.deliver(node.contact, b"bob", packet, category="test") is Outcome.DELIVERED
        # Sent again by the same node: answered as the first copy was, not delivered again.
        assert await host.deliver(node.contact, b"bob", packet, category="test") is Outcome.DELIVERED
        assert await host.deliver_local(b"bob", packet, sender=b"\x09" * 32) is Outcome.MISSED  # a replay
        assert (stats.deliveries, stats.duplicates_dropped) == (1, 2)
        assert node.stats.rpcs_sent.get("test", 0) == 0


async def test_the_local_path_answers_as_a_remote_host_would() -> None:
    async with launch_swarm(2) as nodes:
        near, far = NodeHost.on(nodes[0]), NodeHost.on(nodes[1])
        for host in (near, far):
            with pytest.raises(DHTError, match=r"unknown-topic|does not serve"):
                await near.request(host.node.contact, "no.such", Delivery(b"", b""), bytes, category="x")
        query = make_packet(ALICE, kind=PacketKind.QUERY, topic="t", finding="q?", embedding=np.ones(8))
        relayed: list[bytes] = []

        async def on_relay(packet: OutcomePacket) -> bool:
            relayed.append(packet.id)
            return True

        async def texts(ids: object) -> dict[str, str]:
            return {"a": "text of a", "long": "x" * 10_000}

        for host in (near, far):
            host.serve(b"author", texts, on_relay)
            assert await near.relay(host.node.contact, b"author", query) is True
            assert await near.relay(host.node.contact, b"author", query) is True  # a resend: the same answer
            assert await host.relay_local(b"author", query, sender=b"\x09" * 32) is False  # admitted once
            assert await near.fetch(host.node.contact, b"author", ["a", "long", "b"]) == {"a": "text of a"}
            waiting = near.expect(b"q")
            assert await host.send_reply(nodes[0].contact, Reply(b"q", b"author", ()))
            assert (await waiting.get()).holder == host.node.contact
            near.forget(b"q")
        assert relayed == [query.id, query.id]


def test_messages_keep_the_wire_layout_they_always_had() -> None:
    """Each struct is the msgpack array the hand-written encoders made, so the bytes counted at the
    socket are the same."""
    offer = Offer("p", "src", "title", 0.5)
    pack = msgpack.packb
    assert encode(Delivery(b"a", b"p")) == pack([b"a", b"p"])
    # An offer gained a fifth field, the refs of a claim it stands for (empty for a passage).
    assert Reply(b"q", b"r", (offer,)).encode() == pack([b"q", b"r", [["p", "src", "title", 0.5, []]]])
    claim = Offer("", "packet:ab", "", 0.5, ("s1", "path:x"))
    assert encode(claim) == pack(["", "packet:ab", "", 0.5, ["s1", "path:x"]])
    here = Contact(b"\x01" * 32, "inproc://here")
    assert Reply.decode(Reply(b"q", b"r", (offer, claim)).encode(), here).offers == (offer, claim)
    assert FetchRequest(b"a", ("p",)).encode() == pack([b"a", ["p"]])
    assert encode([FetchedText("p", "t")]) == pack([["p", "t"]])
    assert encode(Outcome.FOLLOW_UP) == pack(2)
    query = encode(RendezvousQuery(b"v", 0.01, 10, 0.0, 8))
    assert query == pack([b"v", 0.01, 10, 0.0, 8])
    assert encode(RendezvousRequest((b"k",), query)) == pack([[b"k"], query])
    answers = (Candidates((Candidate(b"a", b"n", "tcp://h:1", 0.5),), True), Closer(()))
    assert encode(answers) == pack([["candidates", [[b"a", b"n", "tcp://h:1", 0.5]], True], ["closer", []]])
    assert encode(GossipSpread(1, (Reached(b"a", Outcome.DELIVERED),))) == pack([1, [[b"a", 1]]])
    assert decode_outcome(b"\xc1") is Outcome.DELIVERED  # unreadable, but the request was served
