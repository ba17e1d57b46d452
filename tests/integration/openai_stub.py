"""A minimal OpenAI-compatible HTTP server on an ephemeral loopback port, for client tests.

It answers ``/v1/chat/completions`` (JSON or server-sent events, with a usage chunk when
``stream_options.include_usage`` asks for one) by echoing the last user message
(or, when tools are offered and that message reads ``CALL name {json}``, with that function call),
and ``/v1/embeddings`` with fixed-size vectors; every request body is kept in ``requests``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))
        if self.path.endswith("/chat/completions"):
            self._chat(body)
        elif self.path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [
                {"object": "embedding", "index": i, "embedding": [1.0, float(len(t)), 0.5]}
                for i, t in enumerate(inputs)
            ]
            self._json(
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                }
            )
        else:
            self._json({"error": {"message": "not found"}}, status=404)

    def _chat(self, body: dict[str, Any]) -> None:
        last = body["messages"][-1]
        if body.get("tools") and last["role"] == "user" and last["content"].startswith("CALL "):
            self._tool_call(body, *last["content"][5:].split(" ", 1))
            return
        reply = "echo: " + last["content"]
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
            usage = {"prompt_tokens": 3, "completion_tokens": len(reply.split()), "total_tokens": 9}
            self._json(
                {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [choice], "usage": usage}
            )  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for word in reply.split(" "):
            delta = {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                     "choices": [delta]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        if (body.get("stream_options") or {}).get("include_usage"):  # as OpenAI: a last chunk, no choices
            usage = {"prompt_tokens": 3, "completion_tokens": len(reply.split()), "total_tokens": 9}
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                     "choices": [], "usage": usage}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _tool_call(self, body: dict[str, Any], name: str, arguments: str) -> None:
        """``CALL name {json}`` from the user: answer with that function call, as a model would."""
        call = {"id": "call-7", "type": "function", "function": {"name": name, "arguments": arguments}}
        if not body.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            self._json(
                {"id": "c2", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
            )  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        half = len(arguments) // 2  # the arguments arrive in two pieces, as real servers stream them
        pieces = [
            {
                "index": 0,
                "id": "call-7",
                "type": "function",
                "function": {"name": name, "arguments": arguments[:half]},
            },
            {"index": 0, "function": {"arguments": arguments[half:]}},
        ]
        for piece, finish in zip(pieces, (None, "tool_calls"), strict=True):
            choice = {"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": finish}
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                     "choices": [choice]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, payload: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _StubServer(ThreadingHTTPServer):
    requests: list[tuple[str, dict[str, Any]]]


_Server = TypeVar("_Server", bound=ThreadingHTTPServer)


@contextmanager
def running(server: _Server) -> Iterator[_Server]:
    """Serve ``server`` on a thread of its own until the block ends, then shut it and its socket."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def openai_stub() -> Iterator[_StubServer]:
    server = _StubServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    with running(server):
        yield server


def base_url(server: _StubServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/v1"


def start_serve(where: Path, model: _StubServer, *, token: str) -> tuple[subprocess.Popen[str], int]:
    """``synthswarm serve`` of the agents file ``where/swarm.toml`` on a free loopback port, its model
    this stub and its embedder the hashing one: (the process, its port). Stop it with SIGINT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    settings = ["embedder.backend=hashing", f"llm.base_url={base_url(model)}", "llm.api_key=k", "llm.model=m"]
    process = subprocess.Popen(
        [sys.executable, "-m", "synthswarm", "--llm", "openai", "--data-dir", str(where / "data"),
         *[item for s in settings for item in ("--set", s)],
         "serve", "--agents", str(where / "swarm.toml"), "--port", str(port), "--token", token],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return process, port
