"""Answers stream as the model writes them, and the streamed pieces add up to the answer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from synthswarm.agents.dispatcher import EVENT_FINAL, EVENT_ROUTE, EVENT_TOKEN, AnswerStream
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.memory import AgentMemory
from synthswarm.agents.specialist import Specialist, StreamCleaner, _clean
from tests.unit.agents_world import EMBEDDER


@given(st.text(alphabet="ab :\nAnswer.the is", max_size=60), st.lists(st.integers(1, 7), max_size=30))
def test_cleaned_pieces_add_up_to_the_cleaned_whole(text: str, cuts: list[int]) -> None:
    cleaner, out, at = StreamCleaner(), "", 0
    for size in cuts:
        out += cleaner.feed(text[at : at + size])
        at += size
    out += cleaner.feed(text[at:])
    out += cleaner.finish()
    assert out == _clean(text)
    assert cleaner.text == out


async def test_a_specialist_streams_its_answer_token_by_token() -> None:
    chat = ScriptedChat(["Answer: Tomas Heller designed it\nand more words"])
    agent = Specialist(
        "arch", "bridges", chat=chat, embedder=EMBEDDER, memory=AgentMemory.in_memory(EMBEDDER)
    )
    await agent.learn(["The Orrin Bridge was designed by Tomas Heller."])
    pieces: list[str] = []
    answer = await agent.answer("Who designed the Orrin Bridge?", on_token=pieces.append)
    assert answer.text == "Tomas Heller designed it"
    assert "".join(pieces) == answer.text
    assert len(pieces) > 1  # it came in pieces, not whole at the end
    assert answer.llm_calls == 1


def test_the_answer_stream_passes_one_writer_through_and_composed_answers_whole() -> None:
    one = AnswerStream()
    route = {"type": EVENT_ROUTE, "specialists": [{"name": "arch", "score": 0.5}]}
    pieces = [
        one.feed(route),
        one.feed({"type": EVENT_TOKEN, "agent": "arch", "text": "Tomas"}),
        one.feed({"type": EVENT_TOKEN, "agent": "arch", "text": " Heller"}),
        one.feed({"type": EVENT_FINAL, "answer": "Tomas Heller", "provenance": {}}),
    ]
    assert pieces == ["", "Tomas", " Heller", ""]
    two = AnswerStream()
    two.feed({"type": EVENT_ROUTE, "specialists": [{"name": "a", "score": 1}, {"name": "b", "score": 1}]})
    assert two.feed({"type": EVENT_TOKEN, "agent": "a", "text": "x"}) == ""  # one of two: not the answer
    assert two.feed({"type": EVENT_FINAL, "answer": "x; y", "provenance": {}}) == "x; y"
    none = AnswerStream()
    none.feed(route)
    assert none.feed({"type": EVENT_FINAL, "answer": "No specialist found an answer.", "provenance": {}}) == (
        "No specialist found an answer."
    )
