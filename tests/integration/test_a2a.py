"""`synthswarm serve` as an A2A agent, with the a2a-sdk client over real HTTP: the card, an answer sent
and streamed, and 401 without the token. The model is the OpenAI-compatible stub (it echoes), the
embedder the hashing one, so the test loads no real model."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from a2a.client import A2AClientError, Client, ClientConfig, create_client
from a2a.helpers import get_data_parts, get_text_parts
from a2a.types import Message, Part, Role, SendMessageRequest, StreamResponse, TaskState

from swarm.a2a_server import A2A_PATH, BEARER_SCHEME, CARD_PATH
from tests.integration.openai_stub import base_url, openai_stub
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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with openai_stub() as model:
        settings = [
            "embedder.backend=hashing",
            f"llm.base_url={base_url(model)}",
            "llm.api_key=k",
            "llm.model=m",
        ]
        process = subprocess.Popen(
            [sys.executable, "-m", "swarm", "--llm", "openai", "--data-dir", str(where / "data"),
             *[item for s in settings for item in ("--set", s)],
             "serve", "--agents", str(where / "swarm.toml"), "--port", str(port), "--token", TOKEN],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
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
