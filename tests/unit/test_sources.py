"""The sources of a question: the floor it sends, the query text every agent scores, and the wait for
the replies promised (issue 26, part 5)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from synthswarm.agents.asking import AskSettings, Candidate
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.memory import AgentMemory, Document
from synthswarm.agents.retrieval import Passage, PassageIndex
from synthswarm.agents.sources import AgentSources, as_sent, context_floor
from synthswarm.agents.specialist import Specialist, SpecialistSettings, SpecialistStats
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.direct import Offer, Reply
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import (
    MAX_FINDING_BYTES,
    MAX_QUERY_BYTES,
    CompactEmbedding,
    OutcomePacket,
    PacketKind,
    fit_text,
    make_packet,
)
from synthswarm.swarm.routers import BroadcastRouter, DeliveryReport
from tests.unit.agents_world import EMBEDDER


def test_the_floor_counts_each_passage_once_and_no_synthesis() -> None:
    known = {"a": 0.9, "b": 0.8}
    found = [
        Candidate("a", 0.95, text="a again, found by the new round's query"),
        Candidate("a", 0.7, text="a copy of a from the inbox"),
        Candidate("packet:s", 0.99, text="a synthesis", synthesis=True),
        Candidate("c", 0.6, text="c"),
    ]
    # Distinct passages a (0.95), b (0.8), c (0.6): the third best is c's. Counting copies and the
    # synthesis, as the floor once did, would have made it 0.9, and held back passages at 0.6..0.9.
    assert context_floor(known, found, 3) == pytest.approx(0.6)
    assert context_floor(known, found, 4) == float("-inf")  # fewer passages than the budget
    assert context_floor({}, [], 1) == float("-inf")


def test_the_asker_scores_the_query_its_packet_carries() -> None:
    text = "Which bridge? " + "word " * 400  # 2 KB: past a finding's cap, within a query's
    vector = np.linspace(-1, 1, 384).astype(np.float32)
    sent, scored = as_sent(text, vector)
    assert sent == text
    assert len(text.encode()) > MAX_FINDING_BYTES
    assert np.array_equal(scored, CompactEmbedding.from_vector(vector).to_array())
    longest = "Which bridge? " + "word " * 8000  # 40 KB: past the query cap, cut as its packet cuts it
    assert len(as_sent(longest, vector)[0].encode()) <= MAX_QUERY_BYTES < len(longest.encode())


@dataclass
class _Asker:
    """An asker whose query packets are captured rather than sent."""

    memory: AgentMemory
    node: DHTNode | None = None
    name: str = "asker"
    settings: SpecialistSettings = field(default_factory=SpecialistSettings)
    stats: SpecialistStats = field(default_factory=SpecialistStats)
    report: DeliveryReport | None = None
    """What publishing a query reports."""
    embedder: Embedder = field(default_factory=lambda: EMBEDDER)

    async def distill(
        self, text: str, *, kind: PacketKind, evidence: Sequence[str], embedding: npt.ArrayLike | None
    ) -> OutcomePacket:
        raise AssertionError("not sent in these tests")

    async def publish(self, packet: OutcomePacket) -> DeliveryReport | None:
        return self.report


class _Captured(AgentSources):
    """Sources whose swarm query is captured: the text and floor it would send."""

    def __init__(self, asker: _Asker, index: PassageIndex) -> None:
        super().__init__(asker, index, swarm=True)
        self.sent: list[tuple[str, float]] = []

    async def query(self, text: str, vector: npt.NDArray[np.float32], floor: float) -> list[Reply]:
        self.sent.append((text, floor))
        return []


async def _world() -> tuple[_Asker, PassageIndex]:
    texts = [
        "The Orrin Bridge was designed by Tomas Heller.",
        "Tomas Heller wrote the Harbour Symphony in Caldmoor.",
        "Moss grows in damp and shaded places.",
    ]
    memory = AgentMemory.in_memory(EMBEDDER)
    await memory.add_knowledge([Document(t, f"p{i}") for i, t in enumerate(texts)])
    hits, vectors = await memory.knowledge_items()
    passages = [Passage(h.id, "", h.text, f"p{texts.index(h.text)}") for h in hits]
    return _Asker(memory), PassageIndex(passages, vectors)


async def test_search_sends_the_floor_of_distinct_passages_and_the_text_it_scored() -> None:
    asker, index = await _world()
    asker.settings = SpecialistSettings(asking=AskSettings(budget=3))
    sources = _Captured(asker, index)
    question = "Who designed the Orrin Bridge? " + "Tell me about the Harbour Symphony too. " * 900
    [vector] = await EMBEDDER.embed([question])
    found = await sources.search(question, vector, {"p0": 5.0})
    [(text, floor)] = sources.sent
    assert text == as_sent(question, vector)[0] != question  # the text its packet carries (cut at 32 KiB)
    local = {c.key: c.score for c in found}
    assert set(local) == {"p0", "p1", "p2"}
    # p0 is known already at 5.0 and found again: it counts once, so the floor is the third distinct.
    assert floor == pytest.approx(min(local["p1"], local["p2"]))
    # The asker scored its passages with what remote agents get: the cut text and the int8 vector.
    sent_text, sent_vector = as_sent(question, vector)
    again = {f.passage.source: f.score for f in index.search(sent_text, sent_vector, 3)}
    assert local == pytest.approx(again)


def _report(*promised: bytes) -> DeliveryReport:
    return DeliveryReport(b"q", promised, len(promised), 1, promised)


def _reply(responder: bytes) -> Reply:
    return Reply(b"q", responder, (Offer(f"id-{responder.hex()}", "s", "", 1.0),))


async def test_the_wait_ends_when_every_promised_reply_came_each_once_in_responder_order() -> None:
    asker, index = await _world()
    sources = AgentSources(asker, index, swarm=True)
    inbox: asyncio.Queue[Reply] = asyncio.Queue()
    for responder in (b"c", b"a", b"a", b"b"):  # a's reply was sent twice (its first send was slow)
        inbox.put_nowait(_reply(responder))
    replies = await sources._collect(inbox, _report(b"a", b"b", b"c"))
    assert [r.responder for r in replies] == [b"a", b"b", b"c"]  # all three: the copy did not count
    assert (asker.stats.reply_timeouts, asker.stats.replies_missing) == (0, 0)


async def test_a_broken_promise_ends_the_wait_on_the_timeout_and_is_counted() -> None:
    asker, index = await _world()
    asker.settings = SpecialistSettings(ask_timeout_s=0.01)
    sources = AgentSources(asker, index, swarm=True)
    inbox: asyncio.Queue[Reply] = asyncio.Queue()
    inbox.put_nowait(_reply(b"a"))
    replies = await sources._collect(inbox, _report(b"a", b"b"))  # b never replies
    assert [r.responder for r in replies] == [b"a"]
    assert (asker.stats.reply_timeouts, asker.stats.replies_missing) == (1, 1)


async def test_no_wait_for_a_query_no_agent_promised_to_answer() -> None:
    asker, index = await _world()
    sources = AgentSources(asker, index, swarm=True)
    query = make_packet(Identity.generate(), kind=PacketKind.QUERY, topic="t", finding="q?", embedding=[1.0])
    asker.report = DeliveryReport(query.id, (), 6, 1)  # it cost messages, but no one it reached promised
    assert await sources._send(query) is None  # so no quiet period is waited out
    assert sources.messages == 6
    asker.report = DeliveryReport(query.id, (b"a",), 6, 1, (b"a",))
    assert await sources._send(query) is asker.report


async def test_a_query_past_a_findings_cap_is_scored_the_same_by_the_asker_and_a_remote_agent() -> None:
    # Both agents hold the same passages (so the same lexical statistics); the query names one only
    # past its first 1,024 bytes, as a later round's query (the question bridged with a whole
    # passage) does. Cut to a finding's cap, the remote agent would score that passage on the filler
    # alone, lower than the asker does.
    def agent(name: str) -> Specialist:
        settings = SpecialistSettings(relevance=0.0)  # offer whatever matches, to compare every score
        return Specialist(name, f"{name} notes", chat=ScriptedChat(), embedder=EMBEDDER, settings=settings)

    shared = "Ilse Korrin founded the Veltmar Observatory in 1874."
    text = "A question about the founding of things. " * 30 + shared
    assert text.find("Veltmar") > MAX_FINDING_BYTES
    async with launch_swarm(2) as nodes:
        router = BroadcastRouter()
        asker, remote = agent("asker"), agent("remote")
        for each in (asker, remote):
            await each.learn([shared, "The Hollin Telescope was completed in 1861."])
        await asker.join(router, nodes[0])
        await remote.join(router, nodes[1])
        [vector] = await EMBEDDER.embed([text])
        found = await AgentSources(asker, await asker.passages(), swarm=True).search(text, vector, {})
        here = [c.score for c in found if c.holder is None and c.text == shared]
        there = [c.score for c in found if c.holder is not None and c.key == "remote:0"]
        assert here
        assert there
        assert there[0] == pytest.approx(here[0], abs=1e-6)
        # ... and the score both gave is the whole query's, not a cut's.
        scored, index = CompactEmbedding.from_vector(vector).to_array(), await remote.passages()
        [whole] = [f.score for f in index.search(text, scored, 2) if f.passage.text == shared]
        cut = fit_text(text, MAX_FINDING_BYTES)
        [as_cut] = [f.score for f in index.search(cut, scored, 2) if f.passage.text == shared]
        assert there[0] == pytest.approx(whole, abs=1e-6)
        assert as_cut < whole - 1e-3  # so the test tells a cut query from a whole one
