"""A mutational fuzzer for everything that reads untrusted bytes: packets, RPC frames, the payloads
of application requests, a live node's request handler, and the HTTP API.

Each target starts from valid seed inputs and feeds their mutations (bit flips, cut, spliced,
repeated and random bytes, and msgpack type bytes swapped) to one decoder. A *crash* is any
exception other than the decoder's documented error type, or, for a live node, any application
handler failure; for the HTTP API, any 5xx answer. ``synthswarm bench faults`` runs 100,000 inputs;
the tests run a few thousand, beside hypothesis' own strategies. The seeds and the decoders of the
byte targets are in :mod:`synthswarm.swarm.app._fuzz_targets`. With ``atheris`` installed
(``pip install atheris``), :func:`atheris_main` fuzzes packet and frame decoding with coverage guidance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthswarm.swarm.app._fuzz_targets import Target, byte_targets, seed_frames, seed_packets
from synthswarm.swarm.dht.journal import StateJournal
from synthswarm.swarm.dht.messages import decode_frame
from synthswarm.swarm.errors import PacketError, ProtocolError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.packet import decode_packet

__all__ = [
    "Crash",
    "FuzzReport",
    "Target",
    "byte_targets",
    "mutate",
    "run_byte_fuzz",
    "seed_frames",
    "seed_packets",
]


@dataclass(frozen=True)
class Crash:
    target: str
    error: str
    input_hex: str


@dataclass
class FuzzReport:
    inputs: int = 0
    crashes: list[Crash] = field(default_factory=list)
    per_target: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, target: str) -> None:
        """One more input tried on ``target``."""
        self.inputs += 1
        self.per_target[target] = self.per_target.get(target, 0) + 1

    def add(self, other: FuzzReport) -> None:
        self.inputs += other.inputs
        self.crashes.extend(other.crashes)
        for name, n in other.per_target.items():
            self.per_target[name] = self.per_target.get(name, 0) + n
        self.seconds += other.seconds


_MSGPACK_TYPE_BYTES = bytes([0xC0, 0xC2, 0xC3, 0xC4, 0xC5, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF, 0xD0, 0xD9,
                             0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0x90, 0x9F, 0x80, 0xA0, 0xBF, 0xC1, 0xD4,
                             0xC7, 0xFF])  # fmt: skip


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One to four random edits of ``data``."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif op == 2:
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif op == 3:
            del buf[at : at + rng.randint(1, 32)]
        elif op == 4:
            del buf[at:]
        elif op == 5 and buf:
            start = rng.randrange(len(buf))
            chunk = buf[start : start + rng.randint(1, 64)]
            buf[at:at] = chunk * rng.randint(1, 8)
        elif op == 6:
            other = rng.choice(corpus)
            cut = rng.randrange(len(other) + 1)
            buf = buf[:at] + bytearray(other[cut:])
        elif op == 7 and buf:
            buf[min(at, len(buf) - 1)] = rng.choice(_MSGPACK_TYPE_BYTES)
        else:
            buf = bytearray(rng.randbytes(rng.randint(0, 256)))
    return bytes(buf)


def run_byte_fuzz(inputs: int, *, seed: int = 0, progress: Callable[[int], None] | None = None) -> FuzzReport:
    """``inputs`` mutated inputs spread over the decoding targets."""
    rng = random.Random(seed)
    targets = byte_targets(seed)
    report = FuzzReport()
    corpus = [s for _, _, seeds in targets.values() for s in seeds]
    started = time.perf_counter()
    names = list(targets)
    for i in range(inputs):
        name = names[i % len(names)]
        decoder, allowed, seeds = targets[name]
        data = mutate(rng, rng.choice(seeds), corpus)
        _try(report, name, decoder, allowed, data)
        if progress and (i + 1) % 10_000 == 0:
            progress(i + 1)
    report.seconds = time.perf_counter() - started
    return report


def _try(
    report: FuzzReport,
    name: str,
    decoder: Callable[[bytes], Any],
    allowed: tuple[type[BaseException], ...],
    data: bytes,
) -> None:
    report.count(name)
    try:
        decoder(data)
    except allowed:
        pass
    except Exception as exc:  # the point of a fuzzer: anything else is a crash
        report.crashes.append(Crash(name, _describe(exc), data.hex()))


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"[:300]


async def fuzz_live_node(inputs: int, *, seed: int = 0) -> FuzzReport:
    """Feed mutated frames to a live node's request and reply handlers (as its sockets would), with
    every application handler installed: the host's (deliver, reply, fetch, relay), rendezvous, hub and
    gossip. A crash is an exception out of a handler, a handler failure the node had to catch, or a node
    that stops answering."""
    from synthswarm.swarm.dht import DHTNode, DHTSettings, new_context
    from synthswarm.swarm.dht.limits import PeerLimits
    from synthswarm.swarm.routers import GossipRouter, HubRouter, make_router
    from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

    rng = random.Random(seed)
    report = FuzzReport()
    frames = seed_frames(seed)
    started = time.perf_counter()
    # Limits high enough that every input reaches the handlers instead of being rate-limited.
    settings = DHTSettings(limits=PeerLimits(requests_per_s=1e9, burst=10**9))
    context = new_context()
    try:
        async with (
            await DHTNode.create(listen="inproc://fuzz-target", settings=settings, context=context) as node,
            await DHTNode.create(listen="inproc://fuzz-probe", context=context) as probe,
        ):
            router = make_router("dht", [node], hasher=SemanticHasher(48, LSHSettings()), m=4)

            async def deliver(_: object) -> None:
                return None

            await router.subscribe(bytes(32), np.ones(48, np.float32), deliver, node=node)
            await HubRouter(node).subscribe(bytes([1]) * 32, np.ones(48, np.float32), deliver, node=node)
            await GossipRouter(budget=4).subscribe(
                bytes([2]) * 32, np.ones(48, np.float32), deliver, node=node
            )
            host = NodeHost.on(node)
            host.expect(bytes(32))  # the seed reply's query is waiting

            async def texts(ids: Sequence[str]) -> dict[str, str]:
                return {i: "text" for i in ids}

            async def relayed(_: object) -> bool:
                return False

            host.serve(bytes(32), texts, relayed)
            for i in range(inputs):
                data = mutate(rng, rng.choice(frames), frames)
                report.count("node")
                try:
                    node._on_request(b"fuzzer", data, None)
                    node._on_reply(None, data, None)
                except Exception as exc:
                    report.crashes.append(Crash("node", _describe(exc), data.hex()))
                if i % 64 == 63:
                    await asyncio.sleep(0.001)  # let spawned application requests run
            await asyncio.sleep(0.05)
            for _ in range(node.stats.handler_failures):
                report.crashes.append(Crash("node", "an application handler raised (see the log)", ""))
            try:  # from another node, so the answer crosses the target's socket (its own ping would not)
                await probe.ping(node.contact)
            except Exception as exc:
                report.crashes.append(Crash("node", f"stopped answering: {_describe(exc)}", ""))
    finally:
        context.term()
    report.seconds = time.perf_counter() - started
    return report


def fuzz_journal(inputs: int, *, seed: int = 0, directory: Any) -> FuzzReport:
    """Random bytes as a node's journal file: reading it must never raise."""
    rng = random.Random(seed)
    path = Path(directory) / "journal.bin"
    journal = StateJournal(path)
    journal.append(["r", bytes(32), b"s", b"v", 1e12])
    journal.append(["c", bytes(32), "tcp://h:1"])
    journal.close()
    seeds = [path.read_bytes()]
    report = FuzzReport()
    started = time.perf_counter()
    for _ in range(inputs):
        data = mutate(rng, seeds[0], seeds)
        path.write_bytes(data)
        _try(report, "journal", lambda _: list(StateJournal.read(path)), (), data)
    report.seconds = time.perf_counter() - started
    return report


def atheris_main() -> None:  # pragma: no cover - runs under atheris in its own process
    """Coverage-guided fuzzing of packet and frame decoding: ``python -m synthswarm.swarm.app.fuzz
    -atheris_runs=N``."""
    import sys

    import atheris

    atheris.instrument_all()

    def one(data: bytes) -> None:
        with contextlib.suppress(PacketError):
            decode_packet(data)
        with contextlib.suppress(ProtocolError):
            decode_frame(data)

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


_JSON_VALUES: list[Any] = [
    None, True, 0, -1, 2**63, 1e308, float("nan"), "", "x" * 5000, "\u0000\ud7ff", [], {}, [[[[]]]],
    {"role": "user"}, ["user", "hi"],
]  # fmt: skip


def _http_case(rng: random.Random, model: str) -> tuple[str, str, dict[str, str], bytes]:
    """(method, path, headers, body): mostly chat requests with one field broken, sometimes raw bytes."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Who founded the observatory?"}],
        "stream": rng.random() < 0.3,
        "user": "fuzz",
    }
    for _ in range(rng.randint(0, 3)):
        target: Any = body
        key: Any = rng.choice([*body, "max_tokens", "temperature", "tools", "n"])
        messages = body["messages"]
        first = messages[0] if isinstance(messages, list) and messages else None
        if key == "messages" and isinstance(first, dict) and rng.random() < 0.7:
            target, key = first, rng.choice(["role", "content", "name", "tool_calls"])
        target[key] = rng.choice(_JSON_VALUES)
    data = json.dumps(body).encode()
    if rng.random() < 0.3:
        data = mutate(rng, data, [data])
    path = rng.choice(["/v1/chat/completions"] * 8 + ["/v1/models", "/v1/swarm", "/", "/v1/../x", "/v1/chat"])
    method = rng.choice(["POST"] * 9 + ["GET", "PUT", "DELETE"])
    headers = {
        "content-type": rng.choice(["application/json", "text/plain", "", "application/json; charset=x"])
    }
    auth = rng.random()
    if auth < 0.85:
        headers["authorization"] = "Bearer fuzz-token"
    elif auth < 0.95:
        headers["authorization"] = rng.choice(["Bearer ", "Basic x", "Bearer " + "a" * 3000, "Bearer %ff"])
    return method, path, headers, data


async def fuzz_http(inputs: int, *, seed: int = 0) -> FuzzReport:
    """Broken requests to the HTTP API of a small scripted swarm (in process, through ASGI). A crash
    is a 5xx answer or an exception out of the app."""
    import httpx

    from synthswarm.agents.embeddings import HashingEmbedder
    from synthswarm.agents.llm import ScriptedChat
    from synthswarm.swarm.app.runtime import Swarm
    from synthswarm.swarm.app.server import MODEL_ID, ServerSettings, create_app
    from synthswarm.swarm.config import SwarmConfig

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    rng = random.Random(seed)
    report = FuzzReport()
    swarm = Swarm(
        chat=ScriptedChat(default="1874"), embedder=HashingEmbedder(), config=SwarmConfig(router="dht")
    )
    swarm.add_specialist(
        "astronomy", "Observatories and astronomers.", documents=["Korrin founded it in 1874."]
    )
    swarm.add_specialist("botany", "Orchids and naturalists.", documents=["Korrin described the orchid."])
    app = create_app(swarm, ServerSettings(token="fuzz-token"))
    started = time.perf_counter()
    await swarm.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz", timeout=60) as client:
            for _ in range(inputs):
                method, path, headers, body = _http_case(rng, MODEL_ID)
                report.count("http")
                try:
                    response = await client.request(method, path, headers=headers, content=body)
                    if response.status_code >= 500:
                        report.crashes.append(
                            Crash("http", f"{response.status_code}: {response.text[:200]}", body.hex())
                        )
                except Exception as exc:
                    report.crashes.append(Crash("http", _describe(exc), body.hex()))
    finally:
        await swarm.stop()
    report.seconds = time.perf_counter() - started
    return report


if __name__ == "__main__":  # pragma: no cover
    atheris_main()
