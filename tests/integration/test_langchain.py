"""LangChain against a running `synthswarm serve`: langchain-openai's ChatOpenAI gets the swarm's answer,
directly and as the model of a specialist (through LangChainChat)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_openai import ChatOpenAI

from synthswarm.agents.llm import LangChainChat
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.app.server import MODEL_ID, ServerSettings
from tests.integration.test_server import TOKEN, serving
from tests.unit.agents_world import EMBEDDER, QUESTION


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serving(ServerSettings(token=TOKEN)) as url:
        yield url


def chat_openai(url: str) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL_ID, base_url=url, api_key=TOKEN, max_retries=0, timeout=60)  # type: ignore[arg-type]


def test_chat_openai_gets_the_swarms_answer(api: str) -> None:
    reply = chat_openai(api).invoke(QUESTION)
    assert reply.content == "1874"
    streamed = "".join(str(chunk.content) for chunk in chat_openai(api).stream(QUESTION))
    assert streamed == "1874"


async def test_a_specialist_whose_model_is_chat_openai_answers_through_serve(api: str) -> None:
    model = LangChainChat(chat_openai(api))
    assert model.supports_tools  # ChatOpenAI binds tools: the specialist offers its own; serve ignores them
    agent = Specialist("relay", "Questions for the swarm behind the API.", chat=model, embedder=EMBEDDER)
    answer = await agent.answer(QUESTION, ask_swarm=False)
    assert answer.text == "1874"
    assert answer.llm_calls == 1
    await model.aclose()
