"""`synthswarm serve` as an A2A agent, with the a2a-sdk client over real HTTP: the card, an answer sent
and streamed, and 401 without the token. The model is the OpenAI-compatible stub (it echoes), the
embedder the hashing one, so the test loads no real model."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from a2a.client import A2AClientError, Client, ClientConfig, create_client
from a2a.helpers import get_data_parts, get_text_parts
from a2a.types import Message, Part, Role, SendMessageRequest, StreamResponse, TaskState
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.llm import ScriptedChat
from synthswarm.swarm.app.a2a_server import A2A_PATH, BEARER_SCHEME, CARD_PATH
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.app.server import ServerSettings, create_app
from synthswarm.swarm.config import SwarmConfig
from tests.integration.openai_stub import openai_stub, start_serve
from tests.unit.agents_world import ASTRONOMY_FACT, BOTANY_FACT, QUESTION

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``synthswarm serve`` with two specialists and a token; yields its base URL."""
    where = tmp_path_factory.mktemp("a2a")
    (where / "swarm.toml").write_text(
        f'[[agents]]\nname = "botany"\ndomain = "plants"\ndocuments = ["{BOTANY_FACT}"]\n\n'
        f'[[agents]]\nname = "astronomy"\ndomain = "stars"\ndocuments = ["{ASTRONOMY_FACT}"]\n'
    )
    with openai_stub() as model:
        process, port = start_serve(where, model, token=TOKEN)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, process.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "synthswarm serve did not start"
                try:
                    httpx.get(url + CARD_PATH, timeout=5).raise_for_status()
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output[-3000:]
    assert f"A2A agent card at {url}{CARD_PATH}" in output
    assert "Traceback" not in output


@pytest.fixture
async def web() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        yield client


async def a2a_client(url: str, web: httpx.AsyncClient, *, streaming: bool) -> Client:
    """The SDK's client, from the card it fetches at the well-known path."""
    return await create_client(url, client_config=ClientConfig(httpx_client=web, streaming=streaming))


def ask(text: str) -> SendMessageRequest:
    return SendMessageRequest(
        message=Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=[Part(text=text)])
    )


async def events_of(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


async def test_the_card_names_the_specialists_and_the_bearer_scheme(served: str) -> None:
    async with httpx.AsyncClient() as anonymous:  # the card is public
        card = (await anonymous.get(served + CARD_PATH)).json()
    assert sorted((s["name"], s["description"]) for s in card["skills"]) == [
        ("astronomy", "stars"),
        ("botany", "plants"),
    ]
    assert card["supportedInterfaces"][0]["url"] == served + A2A_PATH
    assert BEARER_SCHEME in card["securitySchemes"]


async def test_a_sent_message_gets_an_answer(served: str, web: httpx.AsyncClient) -> None:
    [event] = await events_of(await a2a_client(served, web, streaming=False), ask(QUESTION))
    task = event.task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    [answer] = get_text_parts(task.status.message.parts)
    assert answer.startswith("echo:")  # the stub model answered
    assert get_data_parts(task.status.message.parts)[0]["provenance"]["specialists"]


async def test_a_streamed_message_gets_progress_then_the_answer(served: str, web: httpx.AsyncClient) -> None:
    events = await events_of(await a2a_client(served, web, streaming=True), ask(QUESTION))
    updates = [e.status_update for e in events if e.HasField("status_update")]
    kinds = [
        get_data_parts(u.status.message.parts)[0]["event"]["type"]
        for u in updates[:-1]
        if u.status.message.parts
    ]
    assert kinds[0] == "route"
    assert "answer" in kinds
    assert updates[-1].status.state == TaskState.TASK_STATE_COMPLETED
    [answer] = get_text_parts(updates[-1].status.message.parts)
    chunks = [
        t
        for e in events
        if e.HasField("artifact_update")
        for t in get_text_parts(e.artifact_update.artifact.parts)
    ]
    assert len(chunks) > 1, "the answer streamed in pieces as the model wrote it"
    assert "".join(chunks) == answer


async def test_without_the_token_a2a_calls_get_401(served: str) -> None:
    async with httpx.AsyncClient(timeout=60) as anonymous:
        client = await a2a_client(served, anonymous, streaming=False)  # fetching the card works
        with pytest.raises(A2AClientError, match="401"):
            await events_of(client, ask(QUESTION))
        reply = await anonymous.post(
            served + A2A_PATH, json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage"}
        )
    assert reply.status_code == 401
    assert reply.json()["error"]["message"] == "missing or wrong bearer token"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=10), kids, max_size=5),
    max_leaves=20,
)
part = st.fixed_dictionaries({"text": st.text(max_size=30)}) | st.fixed_dictionaries(
    {}, optional={"data": json_values}
)
message = st.fixed_dictionaries(
    {
        "role": st.just("ROLE_USER") | st.sampled_from(["ROLE_AGENT", "nobody"]) | json_values,
        "messageId": st.text(min_size=1, max_size=10),
        "parts": st.lists(part, max_size=3) | json_values,
    },
    optional={"contextId": st.text(max_size=200), "taskId": st.text(max_size=10), "metadata": json_values},
)
# Mostly well-formed calls, so the examples reach the agent and its checks, not only the envelope's.
envelopes = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "id": st.integers(),
        "method": st.sampled_from(
            ["SendMessage", "SendStreamingMessage", "GetTask", "CancelTask", "ListTasks"]
        ),
        "params": st.fixed_dictionaries({}, optional={"message": message, "id": st.text(max_size=10)}),
    }
) | st.dictionaries(st.sampled_from(["jsonrpc", "id", "method", "params"]), json_values)


@pytest.fixture(scope="module")
def in_process() -> Iterator[TestClient]:
    swarm = Swarm(chat=ScriptedChat(default="1874"), embedder=HashingEmbedder(), config=SwarmConfig())
    swarm.add_specialist("astronomy", "Observatories.", documents=["Korrin founded it in 1874."])
    app = create_app(swarm, ServerSettings(token=TOKEN), run_swarm=True)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


@given(envelopes)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_json_rpc_body_makes_the_a2a_endpoint_fail(
    in_process: TestClient, body: dict[str, object]
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "A2A-Version": "1.0", "Content-Type": "application/json"}
    reply = in_process.post(A2A_PATH, content=json.dumps(body), headers=headers)
    assert reply.status_code == 200, reply.text  # JSON-RPC: every outcome in the body
    if reply.headers["content-type"].startswith("text/event-stream"):
        events = [json.loads(line[5:]) for line in reply.text.splitlines() if line.startswith("data:")]
        assert events
        assert all("result" in e or "error" in e for e in events)
        return
    answer = reply.json()
    assert answer["jsonrpc"] == "2.0"
    assert ("result" in answer) != ("error" in answer)
    if "error" in answer:
        assert answer["error"]["code"] != -32603, answer  # an internal error is a bug, not bad input
