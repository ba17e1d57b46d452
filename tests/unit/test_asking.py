"""Asking: hybrid scores that merge across agents, the direct reply and fetch wire, and the rounds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from synthswarm.agents.asking import AskSettings, Candidate, Holder, ask
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.memory import AgentMemory, Document
from synthswarm.agents.retrieval import Passage, PassageIndex
from synthswarm.agents.sources import AgentSources
from synthswarm.agents.specialist import SpecialistSettings, SpecialistStats
from synthswarm.swarm._codec import encode
from synthswarm.swarm.dht import Contact, DHTNode
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.direct import (
    MAX_OFFERS,
    Offer,
    Reply,
    floor_ref,
    holder_ref,
    parse_floor_ref,
    parse_holder_ref,
    parse_reply_ref,
    reply_ref,
    source_refs,
)
from synthswarm.swarm.errors import ConfigError, ProtocolError, SwarmError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, PacketKind, encode_packet, make_packet
from synthswarm.swarm.routers import DeliveryReport
from tests.unit.agents_world import EMBEDDER

PASSAGES = [
    Passage("a", "Orrin Bridge", "The Orrin Bridge was designed by Tomas Heller.", "bridge"),
    Passage("b", "Tomas Heller", "Tomas Heller wrote the Harbour Symphony.", "heller"),
    Passage("c", "Moss", "Moss grows in damp and shaded places.", "moss"),
]
VECTORS = np.eye(3, 8, dtype=np.float32)


def test_lexical_coverage_finds_the_passage_naming_the_entity() -> None:
    index = PassageIndex(PASSAGES, VECTORS)
    neutral = np.ones(8, np.float32)  # the same cosine to every passage: only words decide
    [best] = index.search("What did Tomas Heller write?", neutral, 1)
    assert best.passage.id == "b"
    dense_only = PassageIndex(PASSAGES, VECTORS, lexical_weight=0)
    assert dense_only.scores("What did Tomas Heller write?", neutral).std() < 1e-6


def test_outside_texts_score_on_the_same_scale_as_held_passages() -> None:
    index = PassageIndex(PASSAGES, VECTORS)
    query, vector = "Heller Symphony bridge", VECTORS[1]
    outside = index.score_texts(query, vector, [f"{p.title} {p.text}" for p in PASSAGES], VECTORS)
    assert np.allclose(index.scores(query, vector), outside, atol=1e-5)
    with pytest.raises(ConfigError):
        PassageIndex(PASSAGES, VECTORS[:2])


def test_replies_and_refs_decode_only_what_they_should() -> None:
    holder = Contact(b"\x01" * 32, "inproc://x")
    reply = Reply(b"q" * 32, b"r" * 32, (Offer("a", "bridge", "Orrin Bridge", 1.25),))
    assert Reply.decode(reply.encode(), holder) == Reply(
        reply.query_id, reply.responder, reply.offers, holder
    )
    too_many = Reply(b"q", b"r", tuple(Offer(str(i), "", "", 0.5) for i in range(MAX_OFFERS + 1)))
    for bad in (
        b"\xc1",
        b"\x90",
        too_many.encode(),
        Reply(b"q", b"r", (Offer("a", "", "", float("nan")),)).encode(),
    ):
        with pytest.raises(ProtocolError):
            Reply.decode(bad, holder)
    assert parse_reply_ref([reply_ref(holder)]) == holder
    assert parse_reply_ref(["bridge", "reply-to:zz@inproc://x"]) is None
    assert parse_reply_ref(["bridge"]) is None
    assert parse_floor_ref([reply_ref(holder), floor_ref(0.75)]) == pytest.approx(0.75)
    assert parse_floor_ref(["min-score:nan"]) == parse_floor_ref(["min-score:x"]) == float("-inf")
    refs = ["bridge", holder_ref(holder), reply_ref(holder), floor_ref(0.5)]
    assert parse_holder_ref(refs) == holder
    assert parse_holder_ref(["bridge", reply_ref(holder)]) is None  # a reply ref names no holder
    assert source_refs(refs) == ["bridge"]


async def test_a_reply_reaches_the_asker_and_texts_are_fetched_from_the_holder() -> None:
    async with launch_swarm(2) as nodes:
        asker, holder = NodeHost.on(nodes[0]), NodeHost.on(nodes[1])
        assert NodeHost.on(nodes[0]) is asker  # one host per node

        async def texts(ids: Sequence[str]) -> dict[str, str]:
            return {i: f"text of {i}" for i in ids if i != "gone"}

        holder.serve(b"agent", texts)
        waiting = asker.expect(b"query")
        assert await holder.send_reply(
            nodes[0].contact, Reply(b"query", b"agent", (Offer("a", "s", "t", 1.0),))
        )
        got = await waiting.get()
        assert got.holder == nodes[1].contact  # the proven sender, not a field of the message
        assert await asker.fetch(nodes[1].contact, b"agent", ["a", "gone"]) == {"a": "text of a"}
        assert await asker.fetch(nodes[1].contact, b"nobody", ["a"]) == {}
        asker.forget(b"query")
        await holder.send_reply(nodes[0].contact, Reply(b"query", b"agent", ()))
        assert asker.unexpected == 1


async def test_a_relayed_query_is_admitted_once_and_only_queries_are_relayed() -> None:
    who = Identity.from_seed(bytes(range(32)))
    query = make_packet(who, kind=PacketKind.QUERY, topic="t", finding="q?", embedding=np.ones(8))
    finding = make_packet(who, kind=PacketKind.FINDING, topic="t", finding="f.", embedding=np.ones(8))
    async with launch_swarm(2) as nodes:
        relayer, author = NodeHost.on(nodes[0]), NodeHost.on(nodes[1])
        got: list[bytes] = []

        async def on_relay(packet: OutcomePacket) -> bool:
            got.append(packet.id)
            return True

        async def texts(ids: Sequence[str]) -> dict[str, str]:
            return {}

        author.serve(b"author", texts, on_relay)
        assert await relayer.relay(nodes[1].contact, b"author", query)  # it promised a reply
        assert await relayer.relay(nodes[1].contact, b"author", query)  # sent again: the same answer
        assert not await author.relay_local(b"author", query, sender=b"\x09" * 32)  # another's repeat
        assert not await relayer.relay(nodes[1].contact, b"author", finding)  # not a query
        assert not await relayer.relay(nodes[1].contact, b"nobody", query)  # no such agent
        assert got == [query.id]
        other = make_packet(who, kind=PacketKind.FINDING, topic="t", finding="g.", embedding=np.ones(8))
        with pytest.raises(ProtocolError, match="only queries"):
            await author.on_relay(nodes[0].contact, encode([b"author", encode_packet(other)]))
        with pytest.raises(ProtocolError):
            await author.on_relay(nodes[0].contact, b"\x93")


class _World:
    """Scripted sources: the question finds the bridge passage; only a query naming Heller finds his."""

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.known: list[dict[str, float]] = []
        self.holder = Holder(b"h", Contact(b"\x02" * 32, "inproc://h"))

    async def search(
        self, text: str, vector: npt.NDArray[np.float32], known: Mapping[str, float]
    ) -> list[Candidate]:
        self.known.append(dict(known))
        found = [Candidate("bridge", 0.9, text="The Orrin Bridge was designed by Tomas Heller.")]
        found.append(Candidate("moss", 0.5, text="Moss grows… ", whole=False))
        if "Heller" in text:
            found.append(Candidate("heller", 0.8, passage_id="b", holder=self.holder, origin=b"h"))
            found.append(Candidate("lost", 0.85, passage_id="x", holder=self.holder, origin=b"h"))
        return found

    async def fetch(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        self.fetched += [c.key for c in candidates]
        return {c.key: "Tomas Heller wrote the Harbour Symphony." for c in candidates if c.key == "heller"}

    async def score(self, text: str, vector: npt.NDArray[np.float32], texts: Sequence[str]) -> list[float]:
        raise AssertionError("nothing here is followed from a claim")


async def embed(text: str) -> npt.NDArray[np.float32]:
    return np.ones(8, np.float32)


async def test_rounds_bridge_to_the_second_passage_and_fetch_only_what_the_context_keeps() -> None:
    world = _World()
    question = "What did the designer of the Orrin Bridge write?"
    result = await ask(question, await embed(question), world, embed, AskSettings(rounds=3, budget=3))
    keys = [c.key for c in result.context]
    assert keys == ["bridge", "heller", "moss"]  # "lost" could not be fetched, so the next one came in
    assert [c.whole for c in result.context] == [True, True, False]  # the cut text is not evidence
    assert set(world.fetched) == {"heller", "lost"}
    assert world.known[0] == {}  # nothing known before the first round
    # then the best so far, by key, so remote agents offer only better
    assert world.known[1] == {"bridge": 0.9, "moss": 0.5}
    one = await ask(question, await embed(question), _World(), embed, AskSettings(rounds=1, budget=3))
    assert "heller" not in [c.key for c in one.context]  # without a second round, no bridge
    assert one.rounds == 1


@dataclass
class BareAsker:
    """An :class:`~synthswarm.agents.sources.Asker` that is no specialist: a memory and settings, no node."""

    memory: AgentMemory
    name: str = "bare"
    settings: SpecialistSettings = field(default_factory=SpecialistSettings)
    stats: SpecialistStats = field(default_factory=SpecialistStats)
    node: DHTNode | None = None
    embedder: Embedder = EMBEDDER

    async def distill(
        self, text: str, *, kind: PacketKind, evidence: Sequence[str], embedding: npt.ArrayLike | None
    ) -> OutcomePacket:
        raise AssertionError("an asker with no node sends no query")

    async def publish(self, packet: OutcomePacket) -> DeliveryReport | None:
        raise AssertionError("an asker with no node publishes nothing")


async def test_the_sources_of_a_question_need_an_asker_not_a_specialist() -> None:
    memory = AgentMemory.in_memory(EMBEDDER)
    await memory.add_knowledge([Document(PASSAGES[0].text, "bridge")])
    [theirs] = await EMBEDDER.embed([PASSAGES[1].text])
    finding = make_packet(
        Identity.generate(),
        kind=PacketKind.FINDING,
        topic="music",
        finding=PASSAGES[1].text,
        embedding=theirs,
        evidence=["heller"],
    )
    assert await memory.store_packet(finding)
    hits, vectors = await memory.knowledge_items()
    index = PassageIndex([Passage(h.id, "", h.text, "bridge") for h in hits], vectors)
    question = "Who designed the Orrin Bridge, and what did Tomas Heller write?"
    [vector] = await EMBEDDER.embed([question])
    asker = BareAsker(memory)
    found = await AgentSources(asker, index, swarm=False).search(question, vector, {})
    assert {c.key for c in found} == {"bridge", "heller"}  # its own passage, and the received finding
    with pytest.raises(SwarmError, match="has not joined a router"):
        await AgentSources(asker, index, swarm=True).search(question, vector, {})
