"""`--trace console` over processes: a turn asked in one swarm process reaches the specialist of
another through the DHT, and both print the spans of that turn under one trace id, the model call
with its token counts among them.

Three processes, as `examples/swarm_processes.py` arranges them: a bare `synthswarm node` to join
through, and two `synthswarm chat` processes with one specialist each; the model is the OpenAI stub,
so the token counts are the ones a server reports."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.integration.openai_stub import base_url, openai_stub, running
from tests.unit.agents_world import ASTRONOMY, ASTRONOMY_FACT, BOTANY, BOTANY_FACT, QUESTION

SYNTHSWARM = [sys.executable, "-m", "synthswarm", "--trace", "console"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def spans_in(stderr: str) -> list[dict[str, Any]]:
    """The spans the console exporter printed, one JSON object a line, among any other output."""
    out = []
    for line in stderr.splitlines():
        if line.startswith('{"name"'):
            out.append(json.loads(line))
    return out


def read_line(proc: subprocess.Popen[str], wanted: str, timeout: float = 120) -> str:
    """The first line of ``proc``'s stdout that contains ``wanted``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if wanted in line:
                return line
    raise AssertionError(f"no line with {wanted!r} in {seen}; exit {proc.poll()}")


def chat_command(tmp_path: Path, name: str, url: str) -> list[str]:
    settings = ["embedder.backend=hashing", f"llm.base_url={url}", "llm.api_key=test", "llm.model=stub"]
    return [
        *SYNTHSWARM, "--llm", "openai", "--data-dir", str(tmp_path / name),
        *[item for s in settings for item in ("--set", s)],
        "chat", "--agents", str(tmp_path / f"{name}.toml"), "--thread", "t",
    ]  # fmt: skip


def ask_over_two_processes(tmp_path: Path) -> tuple[str, str]:
    """Ask :data:`QUESTION` in a chat process whose specialist knows half the answer while another
    chat process's specialist knows the rest; the stderr of each, asker first."""
    node = subprocess.Popen(
        [*SYNTHSWARM, "node", "--listen", "tcp://127.0.0.1:*", "--status-every", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    started: list[subprocess.Popen[str]] = [node]
    try:
        join = json.loads(read_line(node, '"listening"'))["address"]
        for (name, domain), fact in ((BOTANY, BOTANY_FACT), (ASTRONOMY, ASTRONOMY_FACT)):
            # `chat --agents FILE` takes the swarm's wiring from the file's [swarm] table
            (tmp_path / f"{name}.toml").write_text(
                f'[swarm]\ntransport = "tcp"\nbootstrap = "{join}"\n\n'
                f'[[agents]]\nname = "{name}"\ndomain = "{domain}"\ndocuments = ["{fact}"]\n'
            )
        with openai_stub() as server:
            url = base_url(server)
            # The asker starts first: the other process subscribes after it, so its interest rows are
            # stored on the asker's node too, which answers the rendezvous of its own query.
            processes = []
            for name in ("botany", "astronomy"):
                proc = subprocess.Popen(
                    chat_command(tmp_path, name, url),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                )  # fmt: skip
                started.append(proc)
                read_line(proc, "synthswarm chat")  # joined, subscribed, its document shared
                processes.append(proc)
            asker, other = processes
            asker_out, asker_err = asker.communicate(f"{QUESTION}\n/quit\n", timeout=300)
            assert asker.returncode == 0, asker_err[-3000:]
            assert "swarm: echo:" in asker_out  # it answered
            _, other_err = other.communicate("/quit\n", timeout=120)
            assert other.returncode == 0, other_err[-3000:]
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    return asker_err, other_err


def test_a_turn_over_two_processes_is_one_trace(tmp_path: Path) -> None:
    asker_err, other_err = ask_over_two_processes(tmp_path)
    here, there = spans_in(asker_err), spans_in(other_err)
    [route] = [s for s in here if s["name"] == "dispatcher.route"]
    turn = route["context"]["trace_id"]
    ours = [s for s in here if s["context"]["trace_id"] == turn]
    theirs = [s for s in there if s["context"]["trace_id"] == turn]
    names = {s["name"] for s in ours}
    assert {"dispatcher.consult", "dispatcher.respond", "invoke_agent botany", "ask.round"} <= names
    assert "packet.publish" in names
    # The model call that wrote the answer, with the server's token counts (later calls, syntheses
    # the shared answer may prompt, hang elsewhere in the trace).
    [agent] = [s for s in ours if s["name"] == "invoke_agent botany"]
    [model] = [s for s in ours if s["name"] == "chat stub" and s["parent_id"] == agent["context"]["span_id"]]
    attributes = model["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.input_tokens"] == 3
    assert attributes["gen_ai.usage.output_tokens"] > 0
    # The other process received the query in the same trace, and replied in it.
    delivered = [s for s in theirs if s["name"] == "packet.deliver"]
    assert delivered, f"the other process printed {len(there)} spans, none of trace {turn}"
    assert "query" in {s["attributes"].get("synthswarm.packet.kind") for s in delivered}
    assert all(s["parent_id"] is not None for s in theirs)  # each hangs on a span of the asker's turn
    # Parent by parent across the wire: the asker's publish -> the delivery there -> its reply sent
    # -> the reply received here.
    published = {s["context"]["span_id"] for s in ours if s["name"] == "packet.publish"}
    queries = [s for s in delivered if s["attributes"].get("synthswarm.packet.kind") == "query"]
    assert all(s["parent_id"] in published for s in queries)
    sent = [s for s in theirs if s["name"] == "reply.send"]
    assert sent
    assert {s["parent_id"] for s in sent} <= {s["context"]["span_id"] for s in queries}
    received = [s for s in ours if s["name"] == "reply.receive"]
    assert {s["parent_id"] for s in received} == {s["context"]["span_id"] for s in sent}
    assert all(s["resource"]["attributes"]["service.name"] == "synthswarm chat" for s in theirs)


class _Collector(ThreadingHTTPServer):
    exports: list[ExportTraceServiceRequest]


class _CollectorHandler(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace endpoint: keeps each protobuf export it is sent."""

    server: _Collector

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            self.server.exports.append(ExportTraceServiceRequest.FromString(body))
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def otlp_collector() -> Iterator[_Collector]:
    server = _Collector(("127.0.0.1", 0), _CollectorHandler)
    server.exports = []
    with running(server):
        yield server


def test_otlp_sends_the_spans_to_the_standard_endpoint(tmp_path: Path) -> None:
    (tmp_path / "botany.toml").write_text(
        f'[[agents]]\nname = "{BOTANY[0]}"\ndomain = "{BOTANY[1]}"\ndocuments = ["{BOTANY_FACT}"]\n'
    )
    with openai_stub() as server, otlp_collector() as collector:
        host, port = collector.server_address[:2]
        env = {
            **ENV,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{host!s}:{port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "tracing-test",
        }
        command = chat_command(tmp_path, "botany", base_url(server))
        command[command.index("console")] = "otlp"
        done = subprocess.run(
            command, input=f"{QUESTION}\n/quit\n", capture_output=True, text=True, timeout=300, env=env,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert not spans_in(done.stderr)  # nothing on the console
    spans = [
        (resource.resource, span)
        for export in collector.exports
        for resource in export.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = {span.name for _, span in spans}
    assert {"dispatcher.route", "invoke_agent botany", "chat stub"} <= names
    [(resource, model)] = [(r, s) for r, s in spans if s.name == "chat stub"]
    attributes = {a.key: a.value for a in model.attributes}
    assert attributes["gen_ai.usage.input_tokens"].int_value == 3
    assert attributes["gen_ai.usage.output_tokens"].int_value > 0
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "tracing-test"  # OTEL_SERVICE_NAME names the process, as everywhere
