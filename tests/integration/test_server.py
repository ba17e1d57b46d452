"""`synthswarm serve`'s API with the `openai` package as the client, against a running server."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn

from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.app.server import MODEL_ID, ServerSettings, create_app
from synthswarm.swarm.config import SwarmConfig
from tests.integration.openai_stub import openai_stub, start_serve
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, BOTANY, BOTANY_FACT, EMBEDDER, QUESTION, chat

TOKEN = "s3cret-token"


@contextmanager
def serving(settings: ServerSettings) -> Iterator[str]:
    """A two-specialist swarm behind the API on an ephemeral port; yields the base URL."""
    swarm = Swarm(chat=chat(), embedder=EMBEDDER, config=SwarmConfig(router="dht"))
    swarm.add_specialist(*BOTANY, documents=[BOTANY_FACT])
    swarm.add_specialist(*ASTRONOMY, documents=[ASTRONOMY_FACT])
    app = create_app(swarm, settings, run_swarm=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=5)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in 60 s"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(30)
    assert not thread.is_alive()
    assert swarm.router is None  # the server's shutdown stopped the swarm


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serving(ServerSettings(token=TOKEN, max_request_bytes=4096)) as url:
        yield url


def client(url: str, key: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0)


def post(url: str, body: bytes, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/chat/completions", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_completion_carries_the_answer_and_its_provenance(api: str) -> None:
    reply = client(api).chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": QUESTION}], user="thread-1"
    )
    assert reply.choices[0].message.content == "1874"
    assert reply.choices[0].finish_reason == "stop"
    extra = reply.model_extra or {}
    provenance = extra["synthswarm"]["provenance"]
    assert extra["synthswarm"]["thread"] == "thread-1"
    assert provenance["agents_used"]
    assert provenance["agents_used"][0] in {"botany", "astronomy"}
    assert provenance["packets"], "the answer names the packets it used"
    assert [m.id for m in client(api).models.list()] == [MODEL_ID]


def test_a_streamed_completion_sends_progress_then_the_answer(api: str) -> None:
    chunks = list(
        client(api).chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "1874"
    events = [(c.model_extra or {}).get("synthswarm", {}).get("event", {}).get("type") for c in chunks]
    assert "route" in events
    assert "answer" in events
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["synthswarm"]["provenance"]["agents_used"]


def test_bad_requests_get_clear_4xx_errors(api: str) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(api, key="wrong").chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-9'"):
        client(api).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    status, body = post(api, b"{not json")
    assert status == 400
    assert body["error"]["code"] == "invalid_json"
    status, body = post(api, json.dumps({"model": MODEL_ID}).encode())
    assert status == 400
    assert body["error"]["param"] == "messages"
    status, body = post(
        api, json.dumps({"model": MODEL_ID, "messages": [{"role": "system", "content": "x"}]}).encode()
    )
    assert status == 400
    assert "no user message" in body["error"]["message"]
    status, body = post(api, json.dumps({"model": MODEL_ID, "messages": [{"role": "robot"}]}).encode())
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    big = {"model": MODEL_ID, "messages": [{"role": "user", "content": "x" * 5000}]}
    status, body = post(api, json.dumps(big).encode())
    assert status == 413
    assert body["error"]["code"] == "request_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body is read
        yield b'{"model": "synthswarm", "messages": [{"role": "user", "content": "'
        yield b"x" * 5000
        yield b'"}]}'

    streamed = httpx.post(
        f"{api}/chat/completions", content=chunked(), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["code"] == "request_too_large"
    status, body = post(api, b"{}", token="nope")
    assert status == 401
    # After all that, the server still answers.
    reply = client(api).chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": QUESTION}]
    )
    assert reply.choices[0].message.content == "1874"


def test_without_a_token_no_authentication_is_asked() -> None:
    with serving(ServerSettings()) as url:
        reply = client(url, key="anything").chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": QUESTION}]
        )
        assert reply.choices[0].message.content == "1874"


def test_the_serve_command_answers_and_stops_on_interrupt(tmp_path: Path) -> None:
    (tmp_path / "swarm.toml").write_text(
        f'[[agents]]\nname = "botany"\ndomain = "plants"\ndocuments = ["{BOTANY_FACT}"]\n\n'
        f'[[agents]]\nname = "astronomy"\ndomain = "stars"\ndocuments = ["{ASTRONOMY_FACT}"]\n'
    )
    with openai_stub() as model:
        process, port = start_serve(tmp_path, model, token=TOKEN)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, process.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "synthswarm serve did not start"
                try:
                    models = client(url).models.list()
                    break
                except openai.APIConnectionError:
                    time.sleep(0.2)
            assert [m.id for m in models] == [MODEL_ID]
            reply = client(url).chat.completions.create(
                model=MODEL_ID, messages=[{"role": "user", "content": QUESTION}]
            )
            assert (reply.choices[0].message.content or "").startswith("echo:")  # the stub model answered
            assert (reply.model_extra or {})["synthswarm"]["provenance"]["specialists"]
        finally:
            process.send_signal(signal.SIGINT)
            output = process.communicate(timeout=60)[0]
        assert process.returncode == 0, output[-3000:]  # Ctrl-C is how a server is meant to stop
        assert "OpenAI-compatible API at" in output
        assert "Application shutdown complete" in output  # the swarm was stopped, not abandoned
        assert "Traceback" not in output
