"""The **restart** section: a node process with a state directory and a Chroma inbox, killed with
SIGKILL and restarted; what it held and acknowledged against what it has after."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from synthswarm.swarm import tasks
from synthswarm.swarm._codec import decode
from synthswarm.swarm.app.bench._faults_settings import FaultBenchSettings, Progress
from synthswarm.swarm.app.bench.routing import DIMS
from synthswarm.swarm.dht import Contact, DHTSettings, key_for
from synthswarm.swarm.dht.messages import Record, Store, Stored
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.host import NodeHost
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import make_packet
from synthswarm.swarm.routers._base import Outcome

__all__ = ["run"]


#: The child's answer to ``bench.state``: records, memories and contacts it holds.
_HELD = msgspec.msgpack.Decoder(list[int])


def run(s: FaultBenchSettings, progress: Progress) -> dict[str, Any]:
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
                    outcome = await NodeHost.on(nodes[1]).deliver(contact, agent, packet, category="bench")
                    acked_packets += outcome is Outcome.DELIVERED
                answer = await nodes[0].app_request(contact, "bench.state", b"")
                held = decode(_HELD, answer, DHTError, "bench.state")
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
