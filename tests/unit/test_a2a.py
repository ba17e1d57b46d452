"""The A2A side of the server, in process: the a2a-sdk client over an ASGI transport, no sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from a2a.client import A2AClientError, Client, ClientConfig, create_client
from a2a.helpers import get_data_parts, get_text_parts
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0, VERSION_HEADER
from fastapi import FastAPI

from synthswarm.agents.llm import ChatMessage, ChatResult, GenerationOptions, ScriptedChat
from synthswarm.swarm.app.a2a_server import (
    A2A_PATH,
    BEARER_SCHEME,
    CANCELLED,
    CARD_PATH,
    A2ALimits,
    mount_a2a,
    progress_line,
    thread_of,
)
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.app.server import ServerSettings, create_app
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.errors import ModelResponseError
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, BOTANY, BOTANY_FACT, EMBEDDER, QUESTION, chat

TOKEN = "s3cret-token"
BASE = "http://swarm.test"
VERSION = {VERSION_HEADER: PROTOCOL_VERSION_1_0}


def two_agent_swarm(model: ScriptedChat | None = None) -> Swarm:
    swarm = Swarm(chat=model or chat(), embedder=EMBEDDER, config=SwarmConfig(router="dht"))
    swarm.add_specialist(*BOTANY, documents=[BOTANY_FACT])
    swarm.add_specialist(*ASTRONOMY, documents=[ASTRONOMY_FACT])
    return swarm


def http(swarm: Swarm, settings: ServerSettings, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = dict(VERSION)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    app = create_app(swarm, settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers)


@pytest.fixture
async def web() -> AsyncIterator[tuple[Swarm, httpx.AsyncClient]]:
    swarm = two_agent_swarm()
    async with swarm, http(swarm, ServerSettings(token=TOKEN, max_request_bytes=4096)) as client:
        yield swarm, client


async def a2a_client(web: httpx.AsyncClient, *, streaming: bool) -> Client:
    return await create_client(BASE, client_config=ClientConfig(httpx_client=web, streaming=streaming))


def ask(text: str, context_id: str = "") -> SendMessageRequest:
    message = Message(
        role=Role.ROLE_USER, message_id=uuid.uuid4().hex, parts=[Part(text=text)], context_id=context_id
    )
    return SendMessageRequest(message=message)


async def events_of(client: Client, request: SendMessageRequest) -> list[StreamResponse]:
    return [event async for event in client.send_message(request)]


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}


def text_message(text: str) -> dict[str, Any]:
    return {"message": {"role": "ROLE_USER", "messageId": "m1", "parts": [{"text": text}]}}


async def test_the_card_is_public_and_names_the_specialists_and_the_bearer_scheme(
    web: tuple[Swarm, httpx.AsyncClient],
) -> None:
    _, client = web
    reply = await client.get(CARD_PATH, headers={"Authorization": ""})
    assert reply.status_code == 200
    card = reply.json()
    assert {(s["id"], s["description"]) for s in card["skills"]} == {BOTANY, ASTRONOMY}
    assert card["supportedInterfaces"] == [
        {"url": f"{BASE}{A2A_PATH}", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ]
    assert card["capabilities"]["streaming"] is True
    assert card["securitySchemes"][BEARER_SCHEME]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert card["securityRequirements"] == [{"schemes": {BEARER_SCHEME: {}}}]


async def test_without_a_token_the_card_asks_for_none() -> None:
    swarm = two_agent_swarm()
    async with swarm, http(swarm, ServerSettings(), token=None) as web:
        card = (await web.get(CARD_PATH)).json()
        assert "securitySchemes" not in card
        assert "securityRequirements" not in card
        answer = await events_of(await a2a_client(web, streaming=False), ask(QUESTION))
        assert answer[0].task.status.state == TaskState.TASK_STATE_COMPLETED


def final_task(events: list[StreamResponse]) -> Task:
    tasks = [e.task for e in events if e.HasField("task")]
    assert len(tasks) == 1
    return tasks[0]


async def test_a_sent_message_gets_the_answer_with_its_provenance(
    web: tuple[Swarm, httpx.AsyncClient],
) -> None:
    _, client = web
    task = final_task(await events_of(await a2a_client(client, streaming=False), ask(QUESTION)))
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_text_parts(task.status.message.parts) == ["1874"]
    [data] = get_data_parts(task.status.message.parts)
    assert data["thread"] == thread_of(task.context_id)
    assert data["provenance"]["agents_used"][0] in {"botany", "astronomy"}
    assert data["provenance"]["packets"], "the answer names the packets it used"
    [artifact] = task.artifacts
    assert "".join(get_text_parts(artifact.parts)) == "1874"


async def test_a_streamed_message_sends_the_dispatchers_progress_then_the_answer(
    web: tuple[Swarm, httpx.AsyncClient],
) -> None:
    _, client = web
    events = await events_of(await a2a_client(client, streaming=True), ask(QUESTION))
    assert events[0].task.status.state == TaskState.TASK_STATE_SUBMITTED
    updates = [e.status_update for e in events if e.HasField("status_update")]
    states = [u.status.state for u in updates]
    assert states[0] == TaskState.TASK_STATE_WORKING
    assert states[-1] == TaskState.TASK_STATE_COMPLETED
    progress = [get_data_parts(u.status.message.parts) for u in updates[:-1] if u.status.message.parts]
    kinds = [data[0]["event"]["type"] for data in progress]
    assert kinds[0] == "route"
    assert "answer" in kinds
    lines = [get_text_parts(u.status.message.parts)[0] for u in updates[:-1] if u.status.message.parts]
    assert lines[0].startswith("routed to ")
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert "".join(t for c in chunks for t in get_text_parts(c.artifact.parts)) == "1874"
    assert [c.append for c in chunks] == [False] + [True] * (len(chunks) - 1)
    assert chunks[-1].last_chunk
    assert get_text_parts(updates[-1].status.message.parts) == ["1874"]


async def test_a_context_is_a_conversation_thread(web: tuple[Swarm, httpx.AsyncClient]) -> None:
    swarm, client = web
    a2a = await a2a_client(client, streaming=False)
    first = final_task(await events_of(a2a, ask(QUESTION)))
    second = final_task(await events_of(a2a, ask("And in which year again?", context_id=first.context_id)))
    assert second.context_id == first.context_id
    assert second.id != first.id
    state = await swarm.dispatcher.aget_state({"configurable": {"thread_id": thread_of(first.context_id)}})
    assert [m.content for m in state.values["messages"]][0::2] == [QUESTION, "And in which year again?"]
    other = final_task(await events_of(a2a, ask(QUESTION)))
    assert other.context_id != first.context_id  # a message without a context starts a new one


async def test_concurrent_messages_in_one_context_take_turns(web: tuple[Swarm, httpx.AsyncClient]) -> None:
    swarm, client = web
    a2a = await a2a_client(client, streaming=False)
    questions = [f"{QUESTION} ({i})" for i in range(3)]
    tasks = await asyncio.gather(*(events_of(a2a, ask(q, context_id="shared")) for q in questions))
    assert all(final_task(t).status.state == TaskState.TASK_STATE_COMPLETED for t in tasks)
    state = await swarm.dispatcher.aget_state({"configurable": {"thread_id": thread_of("shared")}})
    turns = [(m.type, m.content) for m in state.values["messages"]]
    # Whole turns, one after another: each question followed by its own answer, none lost.
    assert [kind for kind, _ in turns] == ["human", "ai"] * 3
    assert sorted(text for kind, text in turns if kind == "human") == questions


async def test_without_the_token_a2a_calls_get_401(web: tuple[Swarm, httpx.AsyncClient]) -> None:
    _, client = web
    reply = await client.post(
        A2A_PATH, json=rpc("SendMessage", text_message(QUESTION)), headers={"Authorization": ""}
    )
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    body = reply.json()
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["message"] == "missing or wrong bearer token"
    wrong = http(web[0], ServerSettings(token=TOKEN), token="wrong")
    async with wrong:
        a2a = await a2a_client(wrong, streaming=False)  # the card itself is public
        with pytest.raises(A2AClientError, match="401"):
            await events_of(a2a, ask(QUESTION))


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"{not json", -32700, "Expecting property name"),
        (json.dumps(rpc("Dance", {})).encode(), -32601, "Method not found"),
        (json.dumps(rpc("SendMessage", text_message("  "))).encode(), -32602, "no text part with text"),
        (
            json.dumps(
                rpc(
                    "SendMessage",
                    {"message": {"role": "ROLE_USER", "messageId": "m", "parts": [{"data": {"x": 1}}]}},
                )
            ).encode(),
            -32602,
            "no text part with text",
        ),
        (
            json.dumps(
                rpc("SendMessage", {"message": {**text_message("hi")["message"], "role": "ROLE_AGENT"}})
            ).encode(),
            -32602,
            "message.role",
        ),
        (json.dumps(rpc("SendMessage", text_message("x" * 2000))).encode(), -32602, "over 1000 characters"),
        (json.dumps(rpc("SendStreamingMessage", text_message("x" * 2000))).encode(), -32602, "over 1000"),
        (
            json.dumps(
                rpc("SendMessage", {"message": {**text_message("hi")["message"], "contextId": "c" * 129}})
            ).encode(),
            -32602,
            "contextId: over 128",
        ),
    ],
)
async def test_bad_requests_get_json_rpc_errors(body: bytes, code: int, message: str) -> None:
    swarm = two_agent_swarm()
    async with swarm, http(swarm, ServerSettings(token=TOKEN, max_message_chars=1000)) as client:
        reply = await client.post(A2A_PATH, content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 200  # JSON-RPC carries the error in the body
        error = reply.json()["error"]
        assert error["code"] == code
        assert message in error["message"]


async def test_an_empty_text_part_beside_the_question_is_no_reason_to_refuse(
    web: tuple[Swarm, httpx.AsyncClient],
) -> None:
    _, client = web
    message = {**text_message(QUESTION)["message"], "parts": [{"text": ""}, {"text": QUESTION}]}
    reply = await client.post(A2A_PATH, json=rpc("SendMessage", {"message": message}))
    task = reply.json()["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["status"]["message"]["parts"][0]["text"] == "1874"


async def test_a_request_without_the_protocol_version_is_told_which_one_is_spoken(
    web: tuple[Swarm, httpx.AsyncClient],
) -> None:
    _, client = web
    del client.headers[VERSION_HEADER]
    reply = await client.post(A2A_PATH, json=rpc("SendMessage", text_message(QUESTION)))
    error = reply.json()["error"]
    assert error["code"] == -32009
    assert "1.0" in error["message"]


async def test_bodies_over_the_limit_are_refused_declared_or_chunked(
    web: tuple[Swarm, httpx.AsyncClient],
) -> None:
    _, client = web
    big = json.dumps(rpc("SendMessage", text_message("x" * 5000))).encode()
    reply = await client.post(A2A_PATH, content=big)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == -32600

    async def chunked() -> AsyncIterator[bytes]:
        yield big[:100]
        yield big[100:]

    reply = await client.post(A2A_PATH, content=chunked())
    error = reply.json()["error"]
    assert (error["code"], error["message"]) == (-32600, "Payload too large")


def failing_model() -> ScriptedChat:
    def fail(messages: Sequence[ChatMessage]) -> str:
        raise ModelResponseError("the model server answered nonsense")

    return ScriptedChat(default=fail)


async def test_a_swarm_that_cannot_answer_fails_the_task_and_says_why() -> None:
    swarm = two_agent_swarm(failing_model())
    async with swarm, http(swarm, ServerSettings(token=TOKEN)) as client:
        task = final_task(await events_of(await a2a_client(client, streaming=False), ask(QUESTION)))
        assert task.status.state == TaskState.TASK_STATE_FAILED
        [text] = get_text_parts(task.status.message.parts)
        assert re.fullmatch(
            r"the swarm could not answer: every specialist asked failed \((\w+: ModelResponseError: "
            r"agent '\w+': the model server answered nonsense(; )?)+\)",
            text,
        )


def test_progress_lines_name_what_happened() -> None:
    route = {
        "type": "route",
        "specialists": [{"name": "botany", "score": 0.5}, {"name": "music", "score": 0.25}],
    }
    assert progress_line(route) == "routed to botany (0.5), music (0.25)"
    assert progress_line({"type": "answer", "agent": "botany"}) == "botany answered"


async def test_old_tasks_are_forgotten_past_the_limit() -> None:
    swarm = two_agent_swarm()
    app = FastAPI()
    mount_a2a(
        app,
        swarm,
        secured=False,
        limits=A2ALimits(max_request_bytes=4096, max_message_chars=100, max_tasks=2),
    )
    transport = httpx.ASGITransport(app=app)
    async with swarm, httpx.AsyncClient(transport=transport, base_url=BASE, headers=VERSION) as client:
        a2a = await a2a_client(client, streaming=False)
        tasks = [final_task(await events_of(a2a, ask(QUESTION))) for _ in range(3)]
        found = [await client.post(A2A_PATH, json=rpc("GetTask", {"id": t.id})) for t in tasks]
        assert found[0].json()["error"]["code"] == -32001  # task not found
        assert [f.json()["result"]["id"] for f in found[1:]] == [t.id for t in tasks[1:]]


class StallingChat(ScriptedChat):
    """Answers only once released, so a test can act while a turn is in flight."""

    def __init__(self) -> None:
        super().__init__(default="1874")
        self.asked, self.release = asyncio.Event(), asyncio.Event()

    async def complete(
        self, messages: Sequence[ChatMessage], *, options: GenerationOptions | None = None
    ) -> ChatResult:
        self.asked.set()
        await self.release.wait()
        return await super().complete(messages, options=options)


async def test_a_task_in_flight_can_be_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    model = StallingChat()
    swarm = two_agent_swarm(model)
    async with swarm, http(swarm, ServerSettings(token=TOKEN)) as client:
        request = ask(QUESTION)
        request.configuration.return_immediately = True  # answer with the task, then keep working
        [event] = await events_of(await a2a_client(client, streaming=False), request)
        await asyncio.wait_for(model.asked.wait(), 30)
        a2a = await a2a_client(client, streaming=False)
        cancelled = await a2a.cancel_task(CancelTaskRequest(id=event.task.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        model.release.set()
        assert get_text_parts(cancelled.status.message.parts) == [CANCELLED]  # written by the executor
        later = await a2a.get_task(GetTaskRequest(id=event.task.id))
        assert later.status.state == TaskState.TASK_STATE_CANCELED
        await asyncio.sleep(0.1)
        assert model.calls == [], "the turn stopped: the model was never called past the gate"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
