"""Approval of a specialist marked ``approval = true``, resumed from `synthswarm chat` and over the
HTTP API of `synthswarm serve` (the model is the OpenAI stub; the embedder hashes)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.agents.llm import ScriptedChat
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.app.server import MODEL_ID, ServerSettings, create_app
from synthswarm.swarm.config import SwarmConfig
from tests.integration.openai_stub import base_url, openai_stub
from tests.unit.agents_world import ASTRONOMY_FACT, BOTANY_FACT

TOKEN = "approval-token"
ASTRONOMY_QUESTION = "Which observatory did Ilse Korrin found?"


def agents_toml(tmp_path: Path) -> Path:
    path = tmp_path / "swarm.toml"
    path.write_text(
        f'[[agents]]\nname = "botany"\ndomain = "plants"\ndocuments = ["{BOTANY_FACT}"]\n\n'
        f'[[agents]]\nname = "astronomy"\ndomain = "stars"\napproval = true\n'
        f'documents = ["{ASTRONOMY_FACT}"]\n'
    )
    return path


def swarm_command(tmp_path: Path, url: str, *command: str) -> list[str]:
    settings = ["embedder.backend=hashing", f"llm.base_url={url}", "llm.api_key=test", "llm.model=stub"]
    return [
        sys.executable, "-m", "synthswarm", "--llm", "openai", "--data-dir", str(tmp_path / "data"),
        *[item for s in settings for item in ("--set", s)],
        *command, "--agents", str(agents_toml(tmp_path)),
    ]  # fmt: skip


def test_the_chat_asks_for_approval_and_goes_on_with_the_answer(tmp_path: Path) -> None:
    lines = [ASTRONOMY_QUESTION, "y", ASTRONOMY_QUESTION, "no", "/quit"]
    with openai_stub() as server:
        done = subprocess.run(
            swarm_command(tmp_path, base_url(server), "chat", "--thread", "t1"),
            input="".join(f"{line}\n" for line in lines),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.count("approval needed: ask astronomy") == 2
    assert out.count("approve? [y/N]") == 2
    first, second = out.split("approval needed", 2)[1:]
    assert "approved" in first
    assert "astronomy answered" in first  # asked once approved
    assert "swarm: echo:" in first  # the stub model wrote the answer
    assert "denied" in second
    assert "approval denied: asking astronomy" in second  # the denial is in the answer
    assert "astronomy answered" not in second


def test_the_http_api_shows_a_pending_approval_and_resumes_it(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with openai_stub() as model:
        process = subprocess.Popen(
            [*swarm_command(tmp_path, base_url(model), "serve"), "--port", str(port), "--token", TOKEN],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            api = httpx.Client(
                base_url=f"http://127.0.0.1:{port}/v1",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=120,
            )
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, process.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "synthswarm serve did not start"
                try:
                    api.get("/models").raise_for_status()
                    break
                except httpx.TransportError:
                    time.sleep(0.2)

            question = {"model": "synthswarm", "messages": [{"role": "user", "content": ASTRONOMY_QUESTION}]}
            stopped = api.post("/chat/completions", json={**question, "user": "t1"}).json()
            approval = stopped["synthswarm"]["approval"]
            assert approval["thread"] == "t1"
            (pending,) = approval["pending"]
            assert (pending["kind"], pending["agent"]) == ("specialist", "astronomy")
            assert stopped["choices"][0]["message"]["content"].startswith(
                "Waiting for approval: ask astronomy"
            )
            assert api.get("/swarm/approvals/t1").json() == {"thread": "t1", "pending": [pending]}

            answered = api.post("/swarm/approvals/t1", json={"approved": True, "id": pending["id"]}).json()
            assert answered["choices"][0]["message"]["content"].startswith("echo:")
            assert answered["synthswarm"]["provenance"]["specialists"] == ["astronomy"]
            assert api.get("/swarm/approvals/t1").json()["pending"] == []
            assert api.post("/swarm/approvals/t1", json={"approved": True}).status_code == 404

            # Without a named thread the request gets one of its own, kept until it is decided.
            stopped = api.post("/chat/completions", json=question).json()
            thread = stopped["synthswarm"]["approval"]["thread"]
            assert stopped["synthswarm"]["thread"] is None
            denied = api.post(f"/swarm/approvals/{thread}", json={"approved": False, "reason": "no"}).json()
            assert "approval denied: asking astronomy" in denied["choices"][0]["message"]["content"]
            assert denied["synthswarm"]["provenance"]["denied"][0]["reason"] == "no"
            assert api.post(f"/swarm/approvals/{thread}", json={"approved": "maybe"}).status_code == 400
        finally:
            process.send_signal(signal.SIGINT)
            output = process.communicate(timeout=60)[0]
        assert process.returncode == 0, output[-3000:]
        assert "Traceback" not in output


def test_a_streamed_completion_ends_with_the_pending_approval() -> None:
    swarm = Swarm(chat=ScriptedChat(default="1874"), embedder=HashingEmbedder(), config=SwarmConfig())
    swarm.add_specialist("astronomy", "Observatories.", documents=[ASTRONOMY_FACT], needs_approval=True)
    app = create_app(swarm, ServerSettings(token=TOKEN), run_swarm=True)
    auth = {"authorization": f"Bearer {TOKEN}"}
    body = {"model": MODEL_ID, "stream": True, "messages": [{"role": "user", "content": ASTRONOMY_QUESTION}]}
    with TestClient(app) as client:
        stream = client.post("/v1/chat/completions", json=body, headers=auth).text
        chunks = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]
        last = chunks[-1]
        assert last["choices"][0]["finish_reason"] == "stop"
        approval = last["synthswarm"]["approval"]
        (pending,) = approval["pending"]
        assert pending["agent"] == "astronomy"
        thread = approval["thread"]
        url = f"/v1/swarm/approvals/{thread}"
        assert client.post(url, json={"approved": True, "id": "nope"}, headers=auth).status_code == 404
        answer = client.post(url, json={"approved": True}, headers=auth).json()
        assert answer["choices"][0]["message"]["content"] == "1874"
        assert client.get(url, headers=auth).json()["pending"] == []  # nothing waits any more
        assert client.get(url).status_code == 401
