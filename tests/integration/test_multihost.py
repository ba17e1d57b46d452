"""Three hosts made as Linux network namespaces, joined by veth links to a bridge: a secured node on
each joins over real TCP, and packets and records cross hosts. Needs root (CAP_NET_ADMIN) and
iproute2; skipped with the reason where either is missing."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOSTS = 3


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _can_make_namespaces() -> str | None:
    """None when network namespaces can be made here, else why not."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if shutil.which("ip") is None:
        return "iproute2 (the ip command) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root (CAP_NET_ADMIN)"
    probe = f"ssprobe{os.getpid() % 100000}"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as exc:
        return f"ip netns add failed: {exc.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


_WHY = _can_make_namespaces()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")


@pytest.fixture
def hosts() -> Iterator[list[tuple[str, str]]]:
    """(namespace, ip address) of each host, all on one bridge in a switch namespace."""
    tag = f"ss{os.getpid() % 10000}"
    subnet = f"10.{100 + os.getpid() % 100}.{os.getpid() % 250}"
    switch = f"{tag}-sw"
    made = [switch]
    try:
        _ip("netns", "add", switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        out = []
        for i in range(1, HOSTS + 1):
            ns, host_end, switch_end = f"{tag}-h{i}", f"{tag}h{i}", f"{tag}s{i}"
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", switch_end)
            _ip("link", "set", host_end, "netns", ns)
            _ip("link", "set", switch_end, "netns", switch)
            _ip("-n", switch, "link", "set", switch_end, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{subnet}.{i}/24", "dev", host_end)
            _ip("-n", ns, "link", "set", host_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            out.append((ns, f"{subnet}.{i}"))
        yield out
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=30)


class Host:
    def __init__(self, ns: str, index: int, listen: str, join: list[str]) -> None:
        command = [sys.executable, "-m", "tests.integration.multihost_agent", str(index), listen, *join]
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *command], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.events: list[dict[str, Any]] = []

    def send(self, **command: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, event: str, timeout: float = 60, count: int = 1) -> list[dict[str, Any]]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [e for e in self.events if e["event"] == event]
            if len(seen) >= count:
                return seen
            if select.select([self.proc.stdout], [], [], 0.5)[0]:
                line = self.proc.stdout.readline()
                if not line:
                    break
                self.events.append(json.loads(line))
        err = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
        raise AssertionError(f"no {event!r} x{count}; saw {self.events}; stderr: {err[-2000:]}")

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)


def test_packets_and_records_cross_three_hosts(hosts: list[tuple[str, str]]) -> None:
    started: list[Host] = []
    try:
        first = Host(hosts[0][0], 0, f"tcp://{hosts[0][1]}:7400", [])
        started.append(first)
        address = first.wait_for("ready")[0]["address"]
        assert address.startswith(f"tcp://{hosts[0][1]}:7400#")  # a secured (CurveZMQ) address
        for i, (ns, ip) in enumerate(hosts[1:], start=1):
            started.append(Host(ns, i, f"tcp://{ip}:7400", [address]))
        for host in started[1:]:
            assert host.wait_for("ready")[0]["contacts"] >= 1
        # Each host publishes about the next host's agent; the packet crosses a veth link or two.
        for i, host in enumerate(started):
            host.send(publish=(i + 1) % HOSTS)
            assert host.wait_for("published", count=1)[0]["delivered"] >= 1
        for i, host in enumerate(started):
            got = host.wait_for("received")
            assert f"from host {(i - 1) % HOSTS} to {i}" in [e["finding"] for e in got]
        started[2].send(put="colour", value="violet")
        assert started[2].wait_for("put")[0]["stored"] == HOSTS
        started[0].send(get="colour")
        assert started[0].wait_for("got")[0]["values"] == ["violet"]
    finally:
        for host in started:
            host.stop()
