"""A synthesis is a path: it names its parents' passages and their holders, and an asker that finds it
relevant fetches those passages; a claim (a synthesis, a shared answer) is never evidence itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from synthswarm.agents.asking import AskSettings, Candidate, Holder, ask
from synthswarm.agents.specialist import Specialist, SpecialistSettings
from synthswarm.agents.synthesis import find_link
from synthswarm.evals._harness.synthesis_metrics import Made, Parent, ledger
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.direct import (
    CLAIM_REF,
    PassagePath,
    holder_ref,
    passage_paths,
    path_evidence,
    path_ref,
    source_refs,
)
from synthswarm.swarm.packet import MAX_EVIDENCE, PacketKind
from synthswarm.swarm.routers import BroadcastRouter, IsolatedRouter
from tests.unit.agents_world import (
    ASTRONOMY,
    ASTRONOMY_FACT,
    BOTANY,
    BOTANY_FACT,
    EMBEDDER,
    QUESTION,
    chat,
)

HERE = Contact(b"\x01" * 32, "inproc://here")
THERE = Contact(b"\x02" * 32, "tcp://127.0.0.1:5555")


def agent(name_domain: tuple[str, str], **settings: object) -> Specialist:
    name, domain = name_domain
    return Specialist(
        name, domain, chat=chat(), embedder=EMBEDDER,
        settings=SpecialistSettings(**settings),  # type: ignore[arg-type]
    )  # fmt: skip


def test_path_refs_name_a_passage_its_holder_and_node_and_travel_with_their_source() -> None:
    ref = path_ref(b"a" * 32, THERE, "p1")
    assert ref is not None
    assert passage_paths(["s1", holder_ref(THERE), ref]) == [PassagePath("s1", b"a" * 32, THERE, "p1")]
    assert source_refs(["s1", ref]) == ["s1"]  # a path is no source
    assert passage_paths([ref, "s1"]) == []  # a path with no source before it locates nothing
    assert passage_paths(["s1", "path:!!.??.p@x"]) == []
    assert path_ref(b"a" * 32, Contact(THERE.node_id, "tcp://" + "h" * 200), "p1") is None  # no cut refs
    # A packet standing on two others names each passage once, each followed by its path.
    other = path_ref(b"b" * 32, HERE, "p2")
    assert other is not None
    refs = path_evidence([["s1", holder_ref(THERE), ref], ["s2", other], ["s1", "s3"]])
    assert refs == ["s1", ref, "s2", other, "s3"]
    # The cap keeps a source with its path: a pair that does not fit whole is left out.
    many = [[f"s{i}", path_ref(bytes([i]) * 32, HERE, f"p{i}") or ""] for i in range(MAX_EVIDENCE)]
    capped = path_evidence(many)
    assert len(capped) == MAX_EVIDENCE
    assert len(passage_paths(capped)) == MAX_EVIDENCE // 2
    assert len(path_evidence(many, 3)) == 2


async def test_a_two_hop_question_is_answered_in_one_round_through_a_synthesis() -> None:
    async with launch_swarm(3) as nodes:
        router = IsolatedRouter()  # nothing is delivered: the bystander gets only the synthesis
        botany, astronomy = agent(BOTANY), agent(ASTRONOMY)
        bystander = agent(("music", "Music: composers."), ask_swarm=False, asking=AskSettings(rounds=1))
        await botany.learn([BOTANY_FACT])
        await astronomy.learn([ASTRONOMY_FACT])
        await bystander.learn(["The Harbour Symphony premiered in Caldmoor."])
        for a, node in zip((botany, astronomy, bystander), nodes, strict=True):
            await a.join(router, node)
            await a.share_knowledge()
        [theirs], [mine] = botany._findings.values(), astronomy._findings.values()
        link = find_link(mine.finding, theirs.finding)
        assert link is not None
        synthesis = await astronomy.synthesizer.link(mine, theirs, link)
        assert synthesis is not None
        # It names both passages, and where each is held.
        paths = {p.source: (p.agent_id, p.contact) for p in passage_paths(synthesis.evidence)}
        assert paths == {
            "botany:0": (botany.agent_id, nodes[0].contact),
            "astronomy:0": (astronomy.agent_id, nodes[1].contact),
        }
        assert await bystander.memory.store_packet(synthesis)
        answer = await bystander.answer(QUESTION)
        assert answer.text == "1874"  # both facts reached the model, in one round, asking no one
        assert all(e.packet_id != synthesis.id for e in answer.evidence)  # the claim is no evidence
        followed = {e.refs: e for e in answer.evidence if e.via is not None}
        assert set(followed) == {("botany:0",), ("astronomy:0",)}
        assert {e.via for e in followed.values()} == {synthesis.id}
        assert answer.messages == 2  # one fetch from each holder, counted
        # Each passage is scored as any passage the bystander scores, against the question.
        index = await bystander.passages()
        [vector] = await EMBEDDER.embed([QUESTION])
        vectors = await EMBEDDER.embed([BOTANY_FACT])
        [expected] = index.score_texts(QUESTION, vector, [BOTANY_FACT], vectors)
        assert followed[("botany:0",)].score == pytest.approx(expected)
        # The eval's ledger reads who made it and from what direct parents.
        assert await astronomy.memory.store_packet(synthesis)
        assert await astronomy.memory.store_packet(theirs)
        made = await ledger([botany, astronomy, bystander])
        assert made == {synthesis.id: Made(1, (Parent(1, "astronomy:0"), Parent(0, "botany:0")))}
        # Without the synthesis, the bystander has neither fact.
        alone = agent(("music", "Music: composers."), ask_swarm=False, asking=AskSettings(rounds=1))
        await alone.learn(["The Harbour Symphony premiered in Caldmoor."])
        await alone.join(router, nodes[2])
        assert (await alone.answer(QUESTION)).text == "unknown"


async def test_a_shared_answer_is_used_only_through_the_passages_it_cites() -> None:
    async with launch_swarm(3) as nodes:
        router = BroadcastRouter()
        botany = agent(BOTANY, share_answers=True)
        astronomy = agent(ASTRONOMY, share_answers=False)
        reader = agent(("music", "Music: composers."), ask_swarm=False, share_answers=False)
        await botany.learn([BOTANY_FACT])
        await astronomy.learn([ASTRONOMY_FACT])
        for a, node in zip((botany, astronomy, reader), nodes, strict=True):
            await a.join(router, node)
        said = await botany.answer(QUESTION)  # fetched astronomy's passage, then shared the answer
        for a in (botany, astronomy, reader):
            await a.drain()
        assert said.text == "1874"
        assert said.shared is not None
        [shared] = await reader.memory.packets([said.shared])
        assert shared.kind is PacketKind.FINDING
        assert CLAIM_REF in shared.evidence
        assert not any(r.startswith("packet:") for r in shared.evidence)  # it cites passages, not packets
        cited = {p.source: p.agent_id for p in passage_paths(shared.evidence)}
        assert cited == {"botany:0": botany.agent_id, "astronomy:0": astronomy.agent_id}
        heard = await reader.answer(QUESTION)
        assert all(e.packet_id != shared.id for e in heard.evidence)  # never evidence by itself
        assert {e.refs for e in heard.evidence if e.via == shared.id} == {("botany:0",), ("astronomy:0",)}
        assert heard.text == "1874"


async def test_a_claim_whose_passages_cannot_be_had_adds_nothing_to_the_context() -> None:
    async with launch_swarm(2) as nodes:
        router = IsolatedRouter()
        botany = agent(BOTANY)
        reader = agent(("music", "Music: composers."), ask_swarm=False)
        await botany.learn([BOTANY_FACT])
        await reader.learn(["The Harbour Symphony premiered in Caldmoor."])
        await botany.join(router, nodes[0])
        await reader.join(router, nodes[1])
        # A claim stating the answer, citing a passage no one holds at the node it names.
        ghost = path_ref(b"g" * 32, nodes[0].contact, "nothing-here")
        assert ghost is not None
        claim = await botany.distill(
            f"{BOTANY_FACT} {ASTRONOMY_FACT}", kind=PacketKind.SYNTHESIS, evidence=["astronomy:0", ghost]
        )
        assert await reader.memory.store_packet(claim)
        heard = await reader.answer(QUESTION)
        assert heard.text == "unknown"  # the claim's text never reached the model
        assert all(e.packet_id != claim.id and e.via is None for e in heard.evidence)


class _Claims:
    """Scripted sources: a synthesis citing two passages, one of them found by search as well."""

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.holder = Holder(b"h", THERE)
        paths = (PassagePath("found", b"h", THERE, "f"), PassagePath("far", b"h", THERE, "x"))
        self.claim = Candidate("packet:s", 2.0, text="claim", whole=False, packet_id=b"s", synthesis=True,
                               paths=paths)  # fmt: skip

    async def search(
        self, text: str, vector: npt.NDArray[np.float32], known: Mapping[str, float]
    ) -> list[Candidate]:
        return [self.claim, Candidate("found", 0.9, text="found by search")]

    async def fetch(self, candidates: Sequence[Candidate]) -> dict[str, str]:
        self.fetched += [c.key for c in candidates]
        return {c.key: f"text of {c.key}" for c in candidates}

    async def score(self, text: str, vector: npt.NDArray[np.float32], texts: Sequence[str]) -> list[float]:
        return [0.5 for _ in texts]


async def embed(text: str) -> npt.NDArray[np.float32]:
    return np.ones(8, np.float32)


async def test_following_fetches_only_what_the_pool_lacks_and_marks_it() -> None:
    world = _Claims()
    result = await ask("q", await embed("q"), world, embed, AskSettings(rounds=1, budget=3))
    assert world.fetched == ["far"]  # "found" was there already
    by_key = {c.key: c for c in result.context}
    assert set(by_key) == {"found", "far"}  # the claim itself is not in the context
    assert by_key["found"].via is None
    assert by_key["far"].via == b"s"
    assert by_key["far"].score == 0.5  # its own score, not the claim's
    none = await ask("q", await embed("q"), _Claims(), embed, AskSettings(rounds=1, budget=3, syntheses=0))
    assert {c.key for c in none.context} == {"found"}


class _Bridging(_Claims):
    """As :class:`_Claims`, scoring a text higher for a query that carries the passage found by search
    (the question bridged with the claim's other parent) than for the question alone."""

    def __init__(self, rival: bool = False) -> None:
        super().__init__()
        self.queries: list[str] = []
        self.rival = rival

    async def search(
        self, text: str, vector: npt.NDArray[np.float32], known: Mapping[str, float]
    ) -> list[Candidate]:
        rival = [Candidate("rival", 1.5, text="a better passage")] if self.rival else []
        return [*await super().search(text, vector, known), *rival]

    async def score(self, text: str, vector: npt.NDArray[np.float32], texts: Sequence[str]) -> list[float]:
        self.queries.append(text)
        return [3.0 if "found by search" in text else 0.5 for _ in texts]


async def test_a_followed_passage_scores_as_the_next_round_would_bridged_with_its_sibling() -> None:
    world = _Bridging()
    result = await ask("q", await embed("q"), world, embed, AskSettings(rounds=1, budget=3))
    far = next(c for c in result.context if c.key == "far")
    assert far.score == 3.0  # bridged with "found", its sibling in the top of the pool: round two's query
    assert world.queries == ["q", "q found by search"]
    assert [c.key for c in result.context] == ["far", "found"]
    # A sibling that is not in the top of the pool bridges nothing: the passage keeps its plain score.
    world = _Bridging(rival=True)
    result = await ask("q", await embed("q"), world, embed, AskSettings(rounds=1, budget=1))
    assert world.queries == ["q"]
    assert [c.key for c in result.context] == ["rival"]


async def test_an_agent_offers_the_synthesis_it_holds_and_the_asker_follows_it_in_one_round() -> None:
    async with launch_swarm(3) as nodes:
        router = BroadcastRouter()
        quiet = AskSettings(relays=0)
        botany = agent(BOTANY, asking=quiet, synthesize=False)
        # The astronomer never offers its passage for a query: it is reached only through the synthesis.
        top = 1.0 + SpecialistSettings().lexical_weight  # no score reaches it
        astronomy = agent(ASTRONOMY, relevance=top, asking=quiet, synthesize=False)
        reader = agent(("music", "Music: composers."), asking=AskSettings(rounds=1, relays=0))
        await botany.learn([BOTANY_FACT])
        await astronomy.learn([ASTRONOMY_FACT])
        await reader.learn(["The Harbour Symphony premiered in Caldmoor."])
        for a, node in zip((botany, astronomy), nodes[:2], strict=True):
            await a.join(router, node)
        for a in (botany, astronomy):
            await a.share_knowledge()
        for a in (botany, astronomy):
            await a.drain()
        await reader.join(router, nodes[2])  # after the findings went round: it holds neither
        assert (await reader.answer(QUESTION)).text == "unknown"  # the botanist's fact alone
        [mine], [theirs] = botany._findings.values(), astronomy._findings.values()
        link = find_link(mine.finding, theirs.finding)
        assert link is not None
        synthesis = await botany.synthesizer.link(mine, theirs, link)
        assert synthesis is not None
        assert await botany.memory.store_packet(synthesis)
        # A claim that matches the question word for word but leads on from nothing botany offers.
        ghost = path_ref(b"g" * 32, nodes[1].contact, "nothing-here")
        assert ghost is not None
        stray = await botany.distill(QUESTION, kind=PacketKind.SYNTHESIS, evidence=["elsewhere:0", ghost])
        assert await botany.memory.store_packet(stray)
        heard = await reader.answer(QUESTION)
        assert heard.text == "1874"  # botany offered the synthesis citing the passage it offered
        assert not await reader.memory.packets([synthesis.id])  # offered as a path, never received
        assert all(e.packet_id != synthesis.id for e in heard.evidence)  # the claim is no evidence
        assert {e.refs for e in heard.evidence if e.via == synthesis.id} == {("astronomy:0",)}


class _TwoClaims(_Claims):
    """A better matching claim that cites nothing the question found, and a weaker one that leads on
    from the passage search found."""

    def __init__(self) -> None:
        super().__init__()
        stray = (PassagePath("elsewhere", b"h", THERE, "e"), PassagePath("further", b"h", THERE, "u"))
        self.stray = Candidate("packet:t", 5.0, packet_id=b"t", synthesis=True, paths=stray)

    async def search(
        self, text: str, vector: npt.NDArray[np.float32], known: Mapping[str, float]
    ) -> list[Candidate]:
        return [self.stray, *await super().search(text, vector, known)]


async def test_a_claim_that_leads_on_from_what_the_question_found_is_followed_first() -> None:
    world = _TwoClaims()
    await ask("q", await embed("q"), world, embed, AskSettings(rounds=1, budget=3, syntheses=1))
    assert world.fetched == ["far"]  # the claim citing "found", though the other matched better
    world = _TwoClaims()
    await ask("q", await embed("q"), world, embed, AskSettings(rounds=1, budget=3, syntheses=2))
    assert world.fetched == ["far", "elsewhere", "further"]
