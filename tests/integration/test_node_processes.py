"""Standalone nodes in separate processes find each other over TCP and exchange records."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthswarm.swarm.dht import DHTNode, key_for
from synthswarm.swarm.dht.curve import CurveKeys
from synthswarm.swarm.dht.messages import Record, Store, Stored
from synthswarm.swarm.identity import Identity

SYNTHSWARM = [sys.executable, "-m", "synthswarm"]


class NodeProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*SYNTHSWARM, "node", "--listen", "tcp://127.0.0.1:*", "--status-every", "1", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.events: list[dict[str, Any]] = []

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            for seen in self.events:
                if seen["event"] == event:
                    return seen
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                self.events.append(json.loads(line))
        stderr = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
        raise AssertionError(f"no {event!r} event; saw {self.events}; stderr: {stderr[-2000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def dht_get(key: str, address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNTHSWARM, "dht", "get", key, "--join", address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def node_process(*args: str) -> Iterator[NodeProcess]:
    node = NodeProcess(*args)
    try:
        yield node
    finally:
        node.stop()


def test_two_processes_join_and_exchange_records() -> None:
    with node_process() as first:
        a = first.wait_for("listening")["address"]
        with node_process("--join", a, "--put", "colour=blue") as second:
            joined = second.wait_for("listening")
            assert joined["contacts"] >= 1
            assert second.wait_for("put")["stored_on"] >= 2  # the first node and the second itself
            got = dht_get("colour", a)
            assert got.returncode == 0, got.stderr
            assert json.loads(got.stdout.splitlines()[-1])["values"] == ["blue"]
            assert second.stop() == 0
            assert second.wait_for("stopped")
        # The record outlives the node that published it: the first node holds a copy.
        first.wait_for("status")
        got = dht_get("colour", a)
        assert json.loads(got.stdout.splitlines()[-1])["values"] == ["blue"]
        assert first.stop() == 0


def test_get_of_a_missing_key_exits_1() -> None:
    with node_process() as only:
        a = only.wait_for("listening")["address"]
        got = dht_get("nothing-here", a)
        assert got.returncode == 1
        assert json.loads(got.stdout.splitlines()[-1])["values"] == []


def test_dead_join_address_exits_1_with_a_clear_error() -> None:
    node = NodeProcess("--join", "tcp://127.0.0.1:9")
    code = node.proc.wait(timeout=60)
    assert code == 1
    assert node.proc.stderr is not None
    assert "none of the 1 bootstrap address(es) answered" in " ".join(node.proc.stderr.read().split())


def test_secured_processes_exchange_records_over_curve(tmp_path: Path) -> None:
    key = tmp_path / "first.key"
    subprocess.run([*SYNTHSWARM, "keys", "create", str(key)], check=True, capture_output=True, timeout=60)
    with node_process("--secure", "--key", str(key), "--put", "colour=green") as first:
        listening = first.wait_for("listening")
        a = listening["address"]
        assert listening["secure"] is True
        assert listening["node_id"] == Identity.load(key).id.hex()
        assert a.endswith("#" + CurveKeys.of(Identity.load(key)).public.hex())
        got = dht_get("colour", a)  # the client sees the key in the address and secures itself
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout.splitlines()[-1])["values"] == ["green"]
        # Without the Curve key the secured node does not answer at all.
        plain = dht_get("colour", a.split("#")[0])
        assert plain.returncode == 1


def test_kill_9_loses_no_acknowledged_record(tmp_path: Path) -> None:
    state = tmp_path / "state"

    async def store_on(address: str, n: int) -> tuple[int, str]:
        async with await DHTNode.create(bootstrap=[address]) as client:
            contact = next(c for c in client.table if c.address == address)
            acks = 0
            for i in range(n):
                reply = await client.call(contact, Store(key_for("k", str(i)), Record(b"", b"v", 3600)))
                acks += isinstance(reply, Stored) and reply.ok
            return acks, client.address

    victim = NodeProcess("--state-dir", str(state))
    try:
        address = victim.wait_for("listening")["address"]
        acks, _ = asyncio.run(store_on(address, 40))
        assert acks == 40
        victim.proc.send_signal(signal.SIGKILL)
        assert victim.proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        victim.stop()
    with node_process("--state-dir", str(state)) as again:
        restarted = again.wait_for("listening")
        assert restarted["records"] == 40
        assert restarted["node_id"] == victim.events[0]["node_id"]
