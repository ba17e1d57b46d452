"""``synthswarm bench faults``: authenticity, fuzzing, churn, crash-restart, partition and soak.

Sections (each can be run alone with ``--only``):

- **authenticity**: forged, tampered and replayed packets sent straight to an agent's host, and RPC
  frames under someone else's key sent to a secured (CurveZMQ) node; the share refused.
- **fuzz**: mutated inputs to every decoder of untrusted bytes, a live node's handlers, the node's
  journal and the HTTP API (:mod:`synthswarm.swarm.app.fuzz`), plus atheris when it is installed; crashes
  counted.
- **churn**: an N-node swarm, one agent per node, publishing; 20% (then, on a fresh swarm, 50%) of the
  nodes are killed abruptly a third of the way in. After the survivors re-announce their records (the
  repair their maintenance does every ``republish_interval_s``), fresh packets are published, each
  addressed to a live agent (its embedding is that agent's interest vector): the *delivery rate* is the
  share that reached that agent; *lookup success* the share of records stored before the kill that a
  survivor still finds.
- **restart**: a node process with a state directory hosting an agent whose inbox is Chroma is sent
  records and packets, then killed with SIGKILL and restarted: records, inbox packets and contacts
  lost, counted against what it held (and acknowledged) just before.
- **partition**: the swarm is cut in two halves while packets are published across the cut, then
  healed; the publisher's outbox retries what could not be delivered. Delivered after healing, and
  lost, are reported.
- **soak**: many packets through a 64-node swarm; the process's resident memory is sampled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zmq
import zmq.asyncio
from synthswarm.swarm import tasks
from synthswarm.swarm._wire import unpack_untrusted
from synthswarm.swarm.app.bench import FAULT_SECTIONS
from synthswarm.swarm.app.bench._report import Target, judge_targets
from synthswarm.swarm.app.bench.routing import DIMS, synthetic_interests
from synthswarm.swarm.app.fuzz import (
    Crash,
    FuzzReport,
    fuzz_http,
    fuzz_journal,
    fuzz_live_node,
    run_byte_fuzz,
    seed_frames,
    seed_packets,
)
from synthswarm.swarm.dht import Contact, DHTNode, DHTSettings, key_for
from synthswarm.swarm.dht.curve import CurveKeys, split_address
from synthswarm.swarm.dht.messages import Envelope, Ping, Record, Store, Stored, encode_frame
from synthswarm.swarm.dht.testing import heal, launch_swarm, partition
from synthswarm.swarm.dht.transport import request_parts
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket, make_packet
from synthswarm.swarm.routers._base import DELIVER_TOPIC, Outcome, deliver_to, encode_delivery
from synthswarm.swarm.routers.dht import DHTRouter, DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher

__all__ = ["SECTIONS", "FaultBenchSettings", "run_faults_bench", "targets"]

SECTIONS = FAULT_SECTIONS
Progress = Callable[[str], None]


@dataclass(frozen=True)
class FaultBenchSettings:
    nodes: int = 64
    """Nodes in the churn and partition swarms."""
    packets: int = 200
    """Packets per measured phase of churn and partition."""
    attacks: int = 1000
    """Forged packets, replayed packets and impostor frames, each."""
    fuzz_inputs: int = 100_000
    """Mutated inputs to the byte decoders (a tenth as many again to a live node)."""
    http_inputs: int = 5_000
    soak_packets: int = 100_000
    soak_nodes: int = 64
    soak_hosts: str = "separate"
    """``separate``: each soak node binds its own sockets; ``shared``: they share one transport host,
    as nodes in one process can (:func:`~synthswarm.swarm.dht.testing.launch_swarm` ``shared=True``). Separate
    hosts in one process cost libzmq a pipe pair per connected pair of nodes, whose buffers grow
    the resident memory as more pairs exchange messages."""
    seed: int = 0
    sections: tuple[str, ...] = SECTIONS


def targets() -> dict[str, Target]:
    return {
        "churn20_delivery_rate": (">=", 0.99, "after repair, packets that reached their live addressee"),
        "churn50_delivery_rate": (">=", 0.9, "the same with half the nodes killed"),
        "restart_records_lost": ("<=", 0, "records held before kill -9 and missing after restart"),
        "restart_memories_lost": ("<=", 0, "inbox packets (Chroma) missing after restart"),
        "forged_rejected_rate": (">=", 1.0, "forged or tampered packets refused"),
        "replayed_rejected_rate": (">=", 1.0, "replayed packets refused"),
        "fuzz_crashes": ("<=", 0, "inputs that raised an undocumented error"),
    }


def run_faults_bench(settings: FaultBenchSettings, progress: Progress = lambda _: None) -> dict[str, Any]:
    started = time.perf_counter()
    figures: dict[str, Any] = {"sections": list(settings.sections)}
    for section in settings.sections:
        t0 = time.perf_counter()
        progress(f"{section}: starting")
        figures.update(_SECTIONS[section](settings, progress))
        figures[f"{section}_s"] = round(time.perf_counter() - t0, 1)
    figures["targets"] = judge_targets(figures, targets())
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    return figures


# --- authenticity ---------------------------------------------------------------------------------


def _authenticity(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    return tasks.run(_authenticity_async(s, progress))


async def _authenticity_async(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    rng = np.random.default_rng(s.seed)
    alice, mallory, bob = (Identity.from_seed(rng.bytes(32)) for _ in range(3))
    inbox: list[OutcomePacket] = []

    async def deliver(packet: OutcomePacket) -> None:
        inbox.append(packet)

    async with launch_swarm(3, settings=DHTSettings(initial_timeout_s=0.5), seed=s.seed) as nodes:
        router = DHTRouter(SemanticHasher(DIMS, LSHSettings()))
        await router.subscribe(bob.id, rng.standard_normal(DIMS), deliver, node=nodes[1])
        sender, host = nodes[0], nodes[1].contact

        async def send(packet: OutcomePacket) -> bool:
            """True when bob's host accepted the packet."""
            payload = encode_delivery(bob.id, packet)
            try:
                reply = await sender.app_request(host, DELIVER_TOPIC, payload, category="attack")
            except DHTError:
                return False
            return bool(unpack_untrusted(reply, DHTError))

        def valid(i: int, **kw: Any) -> OutcomePacket:
            return make_packet(alice, kind="finding", topic="t", finding=f"finding {i}",
                               embedding=rng.standard_normal(DIMS), **kw)  # fmt: skip

        forged_accepted = 0
        for i in range(s.attacks):
            packet = valid(i)
            attack = [
                dataclasses.replace(packet, finding=packet.finding + "!"),
                dataclasses.replace(packet, confidence=0.5),
                dataclasses.replace(packet, signature=mallory.sign(packet.id)),
                dataclasses.replace(packet, public_key=mallory.public_key),
                dataclasses.replace(packet, signature=rng.bytes(64)),
            ][i % 5]
            forged_accepted += await send(attack)
        progress(f"authenticity: {s.attacks} forged packets sent")
        before = len(inbox)
        originals = [valid(i) for i in range(s.attacks)]
        firsts = [await send(p) for p in originals]
        replays_accepted = sum([await send(p) for p in originals])
        stale = [
            valid(i, created_at_ms=int(time.time() * 1000) - 5000, ttl_s=1) for i in range(s.attacks // 10)
        ]
        stale_accepted = sum([await send(p) for p in stale])
        progress(f"authenticity: {len(originals) + len(stale)} replays sent")
        impostors = await _impostor_frames(s, rng)
    replays = len(originals) + len(stale)
    return {
        "forged_sent": s.attacks,
        "forged_rejected_rate": round(1 - forged_accepted / s.attacks, 4),
        "originals_accepted": sum(firsts),
        "replayed_sent": replays,
        "replayed_rejected_rate": round(1 - (replays_accepted + stale_accepted) / replays, 4),
        "inbox_after_attacks": len(inbox) - before,
        **impostors,
    }


async def _impostor_frames(s: FaultBenchSettings, rng: np.random.Generator) -> dict[str, Any]:
    """Frames over a valid Curve connection that claim another node's key: none may be answered."""
    settings = DHTSettings(secure=True, initial_timeout_s=0.5)
    async with launch_swarm(3, transport="tcp", settings=settings, seed=s.seed) as nodes:
        mallory = Identity.from_seed(rng.bytes(32))
        keys = CurveKeys.of(mallory)
        endpoint, server_key = split_address(nodes[0].address)
        ctx = zmq.asyncio.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
        sock.setsockopt(zmq.CURVE_SERVERKEY, server_key or b"")
        sock.connect(endpoint)
        try:
            victim = nodes[1].identity.public_key
            mine = f"tcp://127.0.0.1:1#{keys.public.hex()}"
            for _ in range(s.attacks):
                await sock.send_multipart(
                    request_parts(encode_frame(Envelope(rng.bytes(8), victim, mine, Ping())))
                )
            await sock.send_multipart(
                request_parts(encode_frame(Envelope(rng.bytes(8), mallory.public_key, mine, Ping())))
            )
            answered = 0
            while await sock.poll(1000):
                (await sock.recv_multipart())[-1]
                answered += 1
        finally:
            sock.close(linger=0)
            ctx.term()
        dropped = nodes[0].stats.impostors
    # The last frame was honest: exactly one answer is expected.
    return {"impostor_frames_sent": s.attacks, "impostor_rejected_rate": round(dropped / s.attacks, 4),
            "honest_frame_answered": answered == 1}  # fmt: skip


# --- fuzzing --------------------------------------------------------------------------------------


def _fuzz(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    report = run_byte_fuzz(s.fuzz_inputs, seed=s.seed, progress=lambda n: progress(f"fuzz: {n} inputs"))
    progress("fuzz: a live node")
    report.add(tasks.run(fuzz_live_node(max(1, s.fuzz_inputs // 10), seed=s.seed)))
    with tempfile.TemporaryDirectory() as d:
        report.add(fuzz_journal(max(1, s.fuzz_inputs // 50), seed=s.seed, directory=d))
    progress(f"fuzz: {s.http_inputs} HTTP requests")
    report.add(tasks.run(fuzz_http(s.http_inputs, seed=s.seed)))
    atheris = _atheris(s, progress)
    if atheris is not None:
        report.add(atheris)
    return {
        "fuzz_inputs": report.inputs,
        "fuzz_crashes": len(report.crashes),
        "fuzz_per_target": report.per_target,
        "fuzz_engines": ["mutational", *(["atheris"] if atheris is not None else [])],
        "fuzz_first_crashes": [dataclasses.asdict(c) for c in report.crashes[:5]],
    }


def _atheris(s: FaultBenchSettings, progress: Progress) -> FuzzReport | None:
    """Coverage-guided runs in a child process (atheris never returns), seeded with valid inputs."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        progress("fuzz: atheris is not installed (pip install 'synthswarm[fuzz]'); skipped")
        return None
    runs = s.fuzz_inputs
    progress(f"fuzz: atheris, {runs} runs")
    with tempfile.TemporaryDirectory() as corpus:
        for i, data in enumerate(seed_packets(s.seed) + seed_frames(s.seed)):
            Path(corpus, f"seed-{i}").write_bytes(data)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "synthswarm.swarm.app.fuzz", corpus, f"-atheris_runs={runs}",
            f"-seed={s.seed + 1}"],
            capture_output=True, text=True, check=False, timeout=3600,
        )  # fmt: skip
    report = FuzzReport(inputs=runs, per_target={"atheris": runs}, seconds=time.perf_counter() - started)
    if done.returncode != 0:
        report.crashes.append(Crash("atheris", done.stderr[-300:], ""))
    return report


# --- churn ----------------------------------------------------------------------------------------


def _churn(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fraction in (0.2, 0.5):
        out.update(tasks.run(_churn_async(s, fraction, progress)))
    return out


@dataclass
class _World:
    """A swarm of agents, one per node, subscribed to the dht router; counts who got which packet."""

    nodes: list[DHTNode]
    router: DHTRouter
    identities: list[Identity]
    interests: npt.NDArray[np.float32]
    received: dict[bytes, set[int]]
    deliveries: int = 0
    keep_receipts: bool = True
    """False for the soak: count deliveries and keep nothing, so the process measures the swarm alone."""

    @classmethod
    async def build(cls, nodes: list[DHTNode], seed: int, m: int = 4) -> _World:
        rng = np.random.default_rng(seed)
        interests, _, _ = synthetic_interests(len(nodes), max(4, len(nodes) // 16), rng)
        router = DHTRouter(SemanticHasher(DIMS, LSHSettings()),
                           DHTRouterSettings(m=m, threshold=-1.0))  # fmt: skip
        world = cls(
            nodes, router, [Identity.from_seed(rng.bytes(32)) for _ in nodes], interests, defaultdict(set)
        )
        for start in range(0, len(nodes), 32):
            await asyncio.gather(*(world._subscribe(i) for i in range(start, min(start + 32, len(nodes)))))
        return world

    async def _subscribe(self, i: int) -> None:
        async def deliver(packet: OutcomePacket) -> None:
            self.deliveries += 1
            if self.keep_receipts:
                self.received[packet.id].add(i)

        await self.router.subscribe(self.identities[i].id, self.interests[i], deliver, node=self.nodes[i])

    def packet(self, publisher: int, target: int, ttl_s: int = 3600) -> OutcomePacket:
        return make_packet(self.identities[publisher], kind="finding", topic="bench", finding="fault bench",
                           embedding=self.interests[target], ttl_s=ttl_s)  # fmt: skip

    async def publish_addressed(
        self, pairs: list[tuple[int, int]], concurrency: int = 16
    ) -> list[tuple[bytes, int]]:
        """Publish one packet per (publisher, addressee); returns (packet id, addressee) of each."""
        sent: list[tuple[bytes, int]] = []
        for start in range(0, len(pairs), concurrency):
            batch = [(self.packet(p, t), p, t) for p, t in pairs[start : start + concurrency]]
            await asyncio.gather(
                *(self.router.publish(pk, publisher=self.identities[p].id) for pk, p, _ in batch)
            )
            sent.extend((pk.id, t) for pk, _, t in batch)
        return sent

    def reached(self, sent: list[tuple[bytes, int]]) -> float:
        """The share of ``sent`` packets that reached their addressee."""
        return sum(t in self.received.get(pid, ()) for pid, t in sent) / max(1, len(sent))


def _pairs(rng: np.random.Generator, alive: list[int], n: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(n):
        p, t = rng.choice(alive, size=2, replace=False)
        out.append((int(p), int(t)))
    return out


async def _churn_async(s: FaultBenchSettings, fraction: float, progress: Progress) -> dict[str, Any]:
    tag = f"churn{round(fraction * 100)}"
    rng = np.random.default_rng(s.seed + round(fraction * 100))
    settings = DHTSettings(initial_timeout_s=0.5)
    async with launch_swarm(s.nodes, settings=settings, seed=s.seed) as nodes:
        progress(f"{tag}: {s.nodes} agents subscribing")
        world = await _World.build(nodes, s.seed)
        keys = [key_for("churn", str(i)) for i in range(s.nodes)]
        for key in keys:
            await nodes[int(rng.integers(len(nodes)))].put(key, key[:8], republish=False)
        alive = list(range(len(nodes)))
        baseline = world.reached(await world.publish_addressed(_pairs(rng, alive, s.packets // 4)))
        progress(f"{tag}: publishing while {fraction:.0%} of the nodes are killed")
        victims = set(rng.choice(alive, size=round(fraction * len(nodes)), replace=False).tolist())
        survivors = [i for i in alive if i not in victims]
        pairs = _pairs(rng, survivors, s.packets // 2)
        half = len(pairs) // 2
        # Half the packets are in flight (walking to rendezvous, delivering) when the nodes die.
        in_flight = asyncio.ensure_future(world.publish_addressed(pairs[:half], concurrency=half))
        await asyncio.sleep(0.01)
        await asyncio.gather(*(nodes[v].kill() for v in victims))
        sent = await in_flight + await world.publish_addressed(pairs[half:])
        during = world.reached(sent)
        lookups_before_repair = await _lookups(nodes, survivors, keys, rng)
        progress(f"{tag}: repairing (survivors re-announce their records)")
        t0 = time.perf_counter()
        await asyncio.gather(*(nodes[i].republish() for i in survivors))
        repair_s = time.perf_counter() - t0
        progress(f"{tag}: publishing {s.packets} packets after repair")
        after = world.reached(await world.publish_addressed(_pairs(rng, survivors, s.packets)))
        lookups = await _lookups(nodes, survivors, keys, rng)
    return {
        f"{tag}_killed": len(victims),
        f"{tag}_delivery_before_kill": round(baseline, 4),
        f"{tag}_delivery_during_kill": round(during, 4),
        f"{tag}_delivery_rate": round(after, 4),
        f"{tag}_lookup_success_before_repair": round(lookups_before_repair, 4),
        f"{tag}_lookup_success": round(lookups, 4),
        f"{tag}_repair_s": round(repair_s, 1),
    }


async def _lookups(
    nodes: list[DHTNode], alive: list[int], keys: list[bytes], rng: np.random.Generator
) -> float:
    async def one(key: bytes) -> bool:
        try:
            result = await nodes[int(rng.choice(alive))].get(key)
        except DHTError:
            return False
        return result.values == [key[:8]]

    found = await asyncio.gather(*(one(k) for k in keys))
    return sum(found) / len(keys)


# --- restart --------------------------------------------------------------------------------------


def _restart(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    return tasks.run(_restart_async(s, progress))


class _Child:
    def __init__(self, state: Path, join: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "synthswarm.swarm.app.bench._restart_child", str(state), *join],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    async def ready(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 120)
        if not line:
            raise DHTError(
                f"restart child failed: {self.proc.stderr.read()[-1500:] if self.proc.stderr else ''}"
            )
        ready: dict[str, Any] = json.loads(line)
        return ready

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


async def _restart_async(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="synthswarm-restart-"))
    rng = np.random.default_rng(s.seed)
    try:
        async with launch_swarm(
            8, transport="tcp", settings=DHTSettings(initial_timeout_s=0.5), seed=s.seed
        ) as nodes:
            child = _Child(state, [nodes[0].address])
            try:
                ready = await child.ready()
                contact = Contact(bytes.fromhex(ready["node_id"]), ready["address"])
                agent = bytes.fromhex(ready["agent_id"])
                n = max(10, s.packets)
                progress(f"restart: sending {n} records and {n} packets to the node")
                acked_records = 0
                for i in range(n):
                    record = Record(b"", f"value {i}".encode(), 3600)
                    reply = await nodes[i % 8].call(contact, Store(key_for("restart", str(i)), record))
                    acked_records += isinstance(reply, Stored) and reply.ok
                sender = Identity.from_seed(rng.bytes(32))
                acked_packets = 0
                for i in range(n):
                    packet = make_packet(sender, kind="finding", topic="restart", finding=f"finding {i}",
                                         embedding=rng.standard_normal(DIMS))  # fmt: skip
                    outcome = await deliver_to(nodes[1], {}, agent, contact, packet, "bench")
                    acked_packets += outcome is Outcome.DELIVERED
                held = unpack_untrusted(await nodes[0].app_request(contact, "bench.state", b""), DHTError)
                child.kill9()  # at once: anything not yet on disk is lost
                progress("restart: killed with SIGKILL; restarting")
            finally:
                child.stop()
            again = _Child(state, [])
            try:
                back = await again.ready()
            finally:
                again.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)
    records, memories, contacts = (int(x) for x in held)
    return {
        "restart_records_acked": acked_records,
        "restart_packets_acked": acked_packets,
        "restart_records_held": records,
        "restart_records_lost": max(0, records - back["records"]),
        "restart_memories_held": memories,
        "restart_memories_lost": max(0, memories - back["memories"]),
        "restart_contacts_held": contacts,
        "restart_contacts_lost": max(0, contacts - back["contacts"]),
        "restart_same_identity": back["node_id"] == ready["node_id"],
    }


# --- partition ------------------------------------------------------------------------------------


def _partition(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    return tasks.run(_partition_async(s, progress))


async def _partition_async(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    rng = np.random.default_rng(s.seed + 7)
    async with launch_swarm(s.nodes, settings=DHTSettings(initial_timeout_s=0.5), seed=s.seed) as nodes:
        world = await _World.build(nodes, s.seed)
        half = len(nodes) // 2
        left, right = list(range(half)), list(range(half, len(nodes)))
        partition([nodes[i] for i in left], [nodes[i] for i in right])
        progress(f"partition: two halves of {half}; publishing {s.packets} packets across the cut")
        pairs = []
        for _ in range(s.packets):
            a, b = int(rng.choice(left)), int(rng.choice(right))
            pairs.append((a, b) if rng.random() < 0.5 else (b, a))
        sent = await world.publish_addressed(pairs)
        during = world.reached(sent)
        queued = len(world.router.outbox)
        heal(nodes)
        progress(f"partition: healed; retrying {queued} held deliveries")
        t0 = time.perf_counter()
        while len(world.router.outbox) and time.perf_counter() - t0 < 120:
            await world.router.retry_pending()
            if len(world.router.outbox):
                await asyncio.sleep(1.0)  # back-offs from the partition run out
        heal_s = time.perf_counter() - t0
        reached = world.reached(sent)
    return {
        "partition_packets": len(pairs),
        "partition_delivered_during": round(during, 4),
        "partition_held_for_retry": queued,
        "partition_delivered_after_heal": round(reached, 4),
        "partition_lost": len(pairs) - round(reached * len(pairs)),
        "partition_outbox_dropped": world.router.outbox.stats.dropped,
        "partition_heal_s": round(heal_s, 1),
    }


# --- soak -----------------------------------------------------------------------------------------


def _soak(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    return tasks.run(_soak_async(s, progress))


def _rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _soak_async(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
    rng = np.random.default_rng(s.seed + 11)
    async with launch_swarm(
        s.soak_nodes,
        settings=DHTSettings(initial_timeout_s=0.5),
        seed=s.seed,
        shared=s.soak_hosts == "shared",
    ) as nodes:
        world = await _World.build(nodes, s.seed)
        world.keep_receipts = False
        n, agents = s.soak_packets, len(nodes)
        samples: list[tuple[int, float]] = []
        warm = max(1, n // 10)
        sent, started = 0, time.perf_counter()
        while sent < n:
            batch = min(32, n - sent)
            publishers = rng.integers(0, agents, batch)
            targets_ = rng.integers(0, agents, batch)
            packets = [
                world.packet(int(p), int(t), ttl_s=30) for p, t in zip(publishers, targets_, strict=True)
            ]
            await asyncio.gather(*(world.router.publish(pk, publisher=world.identities[int(p)].id)
                                   for pk, p in zip(packets, publishers, strict=True)))  # fmt: skip
            sent += batch
            if sent % warm < batch or sent == n:
                gc.collect()
                samples.append((sent, round(_rss_mb(), 1)))
                rate = sent / (time.perf_counter() - started)
                progress(f"soak: {sent}/{n} packets, {rate:.0f}/s, rss {samples[-1][1]} MB")
        elapsed = time.perf_counter() - started
        deliveries = world.deliveries
    after_warm = samples[0][1]
    return {
        "soak_packets": sent,
        "soak_nodes": s.soak_nodes,
        "soak_hosts": s.soak_hosts,
        "soak_deliveries": deliveries,
        "soak_packets_per_s": round(sent / elapsed, 1),
        "soak_rss_mb_samples": samples,
        "soak_rss_after_warmup_mb": after_warm,
        "soak_rss_growth_mb": round(samples[-1][1] - after_warm, 1),
        "soak_rss_max_mb": max(v for _, v in samples),
    }


_SECTIONS: dict[str, Callable[[FaultBenchSettings, Progress], dict[str, Any]]] = {
    "authenticity": _authenticity,
    "fuzz": _fuzz,
    "churn": _churn,
    "restart": _restart,
    "partition": _partition,
    "soak": _soak,
}
