"""Standalone nodes in separate processes find each other over TCP and exchange records."""

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
from typing import Any

SYNTHSWARM = [sys.executable, "-m", "swarm"]


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
