"""One DHT over several processes: shards of nodes on TCP, for tests, benchmarks and clusters.

One asyncio loop caps a process at a few thousand RPCs a second, so a swarm of thousands of nodes
in one process measures that loop, not the DHT. :func:`launch_shards` runs ``n`` nodes as
``processes`` shards: this process hosts the first shard (its nodes are real :class:`DHTNode`
objects the caller drives), and each other shard hosts its nodes on one
:class:`~synthswarm.swarm.dht.transport.TransportHost` somewhere else: a child process on this machine, over
TCP loopback (``python -m synthswarm.swarm.cluster._shard``), or with ``ray=`` a Ray actor wherever Ray places
it (:mod:`synthswarm.swarm.cluster.ray_shards`). Every node joins the one DHT through nodes already in it. The
shards answer a few commands (:class:`synthswarm.swarm.cluster._shard.Shard`): their request counts, an abrupt
kill of a fraction of their nodes, quit.

Requests are counted where they are sent, in whichever process sent them, and summed on request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from synthswarm.swarm.cluster._join import join
from synthswarm.swarm.dht.node import DHTNode, DHTSettings, requests_by_category
from synthswarm.swarm.dht.testing import SHARED_HOST_SETTINGS
from synthswarm.swarm.dht.transport import TransportHost, new_context
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.semantic import LSHSettings

__all__ = ["SHARD_MODULE", "ShardStats", "Shards", "join", "launch_shards", "shard_sizes"]

_READY_TIMEOUT_S = 1800.0
_COMMAND_TIMEOUT_S = 600.0
#: The module a child shard runs (``python -m``) unless ``launch_shards`` is given another: one whose
#: ``__main__`` runs :func:`synthswarm.swarm.cluster._shard.main` with a :class:`Shard` of its own, and
#: which names that class ``SHARD``, for a Ray actor to host (:func:`.ray_shards.shard_class`).
SHARD_MODULE = "synthswarm.swarm.cluster._shard"


class _ShardHandle(Protocol):
    """This process's handle on a shard hosted elsewhere."""

    nodes: int
    ids: list[bytes]

    async def ready(self, report: Callable[[str], None]) -> list[bytes]: ...

    async def command(self, report: Callable[[str], None] | None = None, **fields: Any) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


@dataclass
class _Child:
    """A shard in a child process on this machine, spoken to in JSON lines."""

    process: asyncio.subprocess.Process
    nodes: int
    index: int
    ids: list[bytes] = field(default_factory=list)

    async def ready(self, report: Callable[[str], None]) -> list[bytes]:
        ready = await _event(self, "ready", report=report)
        self.ids = [bytes.fromhex(i) for i in ready["ids"]]
        return self.ids

    async def command(self, report: Callable[[str], None] | None = None, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(fields) + "\n").encode())
        await self.process.stdin.drain()
        return await _event(self, fields["cmd"], report=report)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.command(cmd="quit"), 60)
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@dataclass(frozen=True)
class ShardStats:
    """What every shard's nodes have done so far, summed over the shards (this process's included)."""

    requests: Counter[str]
    """Requests sent, by category, counted at the socket."""
    cpu_s: float
    """CPU seconds of every process hosting a shard."""
    bytes_out: int


@dataclass
class Shards:
    """A DHT spread over processes. ``local`` are this process's nodes; ``ids`` every node's id, in
    shard order (this process's first)."""

    local: list[DHTNode]
    ids: list[bytes]
    _children: list[_ShardHandle]
    report: Callable[[str], None] = field(default=lambda _: None)
    """Where the other shards' progress goes (``launch_shards``' ``progress``)."""

    @property
    def processes(self) -> int:
        return 1 + len(self._children)

    @property
    def sizes(self) -> list[int]:
        """Nodes per shard, this process's first."""
        return [len(self.local), *(c.nodes for c in self._children)]

    async def subscribe_remote(
        self, agents: list[bytes], vectors: npt.NDArray[np.float32], *, lsh: LSHSettings, m: int,
        threshold: float,
    ) -> dict[str, int]:  # fmt: skip
        """Subscribe one agent on each node of the other shards (``agents`` and ``vectors`` for
        every node past this process's, in shard order) through a :class:`DHTRouter` in each child;
        returns the children's router counters, summed."""
        if len(agents) != sum(c.nodes for c in self._children) or len(vectors) != len(agents):
            raise ValueError("one agent and one vector for each node of the other shards, in order")
        dims = vectors.shape[1]
        commands, start = [], 0
        for index, child in enumerate(self._children, start=1):
            rows = slice(start, start + child.nodes)
            start += child.nodes
            commands.append(
                child.command(
                    report=functools.partial(_prefixed, self.report, f"shard {index}: "),
                    cmd="subscribe",
                    agents=[a.hex() for a in agents[rows]],
                    vectors=base64.b64encode(
                        np.ascontiguousarray(vectors[rows], np.float32).tobytes()
                    ).decode(),
                    dims=dims,
                    lsh=dataclasses.asdict(lsh),
                    m=m,
                    threshold=threshold,
                )
            )
        total: Counter[str] = Counter()
        for stats in await asyncio.gather(*commands):
            total.update({k: int(v) for k, v in stats.items() if k != "event"})
        return dict(total)

    async def received_remote(self) -> dict[bytes, list[bytes]]:
        """Which agents of the other shards received which packets since the last call."""
        out: dict[bytes, list[bytes]] = {}
        for child in self._children:
            for packet, agents in (await child.command(cmd="received"))["received"].items():
                out.setdefault(bytes.fromhex(packet), []).extend(bytes.fromhex(a) for a in agents)
        return out

    async def stats(self) -> ShardStats:
        """Requests, CPU and bytes of every shard so far: one command to each."""
        requests = requests_by_category(self.local)
        cpu_s, bytes_out = time.process_time(), sum(n.transport_stats().bytes_out for n in self.local)
        for answer in await asyncio.gather(*(c.command(cmd="stats") for c in self._children)):
            requests.update(answer["rpcs"])
            cpu_s += float(answer["cpu_s"])
            bytes_out += int(answer["bytes_out"])
        return ShardStats(requests, cpu_s, bytes_out)

    async def command(self, shard: int, **fields: Any) -> dict[str, Any]:
        """One command to the shard numbered ``shard`` (1 and up: this process's is 0); its answer."""
        if not 1 <= shard <= len(self._children):
            raise ValueError(f"no shard {shard}: shards 1..{len(self._children)} are elsewhere")
        report = functools.partial(_prefixed, self.report, f"shard {shard}: ")
        return await self._children[shard - 1].command(report=report, **fields)

    async def command_all(self, **fields: Any) -> list[dict[str, Any]]:
        """The same command to every other shard at once; their answers, in shard order."""
        return list(await asyncio.gather(*(self.command(i, **fields) for i in range(1, self.processes))))

    async def kill(self, fraction: float, seed: int) -> list[DHTNode]:
        """Kill ``fraction`` of every shard's nodes abruptly; returns this process's survivors."""
        rng = random.Random(seed)
        victims = rng.sample(self.local, int(len(self.local) * fraction))
        await asyncio.gather(*(v.kill() for v in victims))
        for i, child in enumerate(self._children):
            await child.command(cmd="kill", fraction=fraction, seed=seed + i + 1)
        return [n for n in self.local if n not in victims]


def shard_sizes(n: int, processes: int) -> list[int]:
    """Nodes in each of ``processes`` shards of ``n``, the first shards one larger where ``n`` does not
    divide evenly: how :func:`launch_shards` splits them, for a caller that places its own agents."""
    return [n // processes + (1 if i < n % processes else 0) for i in range(processes)]


@asynccontextmanager
async def launch_shards(
    n: int,
    *,
    processes: int,
    settings: DHTSettings | None = None,
    seed: int = 0,
    join_concurrency: int = 16,
    progress: Callable[[str], None] | None = None,
    ray: str | None = None,
    module: str = SHARD_MODULE,
    extra: dict[str, Any] | None = None,
) -> AsyncIterator[Shards]:
    """``n`` nodes in ``processes`` shards (see the module docstring): child processes over TCP
    loopback, or with ``ray`` (``auto``, ``local`` or a cluster's address, as
    :func:`synthswarm.swarm.cluster.ray_shards.connect` takes it) Ray actors. Every shard is stopped on
    exit. ``module`` is what a child process runs (and whose ``SHARD`` a Ray actor hosts), ``extra``
    what it is told besides the shard's own arguments (an application's shard above this layer, which
    answers commands of its own)."""
    if processes < 1 or n < processes:
        raise ValueError(f"need 1 <= processes <= n, got {processes} processes for {n} nodes")
    s = settings or DHTSettings()
    if s.secure:
        raise ValueError("shards share transport hosts, which are unsecured")
    report = progress or (lambda _: None)
    sizes = shard_sizes(n, processes)
    with contextlib.ExitStack() as placement:
        listen, advertise = "tcp://127.0.0.1:*", None
        if ray is not None:
            from synthswarm.swarm.cluster import ray_shards

            report(f"connecting to Ray ({ray})")
            placement.enter_context(ray_shards.connect(ray, cpus=processes))
            listen, advertise = "tcp://0.0.0.0:*", f"tcp://{ray_shards.node_address()}:*"
        ctx = new_context()
        host = TransportHost.open(ctx, listen, SHARED_HOST_SETTINGS, advertise=advertise)
        local: list[DHTNode] = []
        children: list[_ShardHandle] = []
        try:
            rng = random.Random(seed)
            local.append(await DHTNode.create(settings=s, host=host))
            while len(local) < sizes[0]:
                batch = min(join_concurrency, sizes[0] - len(local))
                known = [n.address for n in local]
                local += await asyncio.gather(*(join(s, host, known, rng) for _ in range(batch)))
                report(f"shard 0: joined {len(local)}/{sizes[0]} nodes")
            seeds = [node.address for node in rng.sample(local, min(8, len(local)))]
            for index, size in enumerate(sizes[1:], start=1):
                args = _shard_args(index, size, seeds, s, seed, join_concurrency) | (extra or {})
                if ray is not None:
                    children.append(ray_shards.RayShard(args, module))
                else:
                    children.append(await _spawn(args, module))
            for index, child in enumerate(children, start=1):
                await child.ready(functools.partial(_prefixed, report, f"shard {index}: "))
            ids = [node.node_id for node in local] + [i for c in children for i in c.ids]
            yield Shards(local, ids, children, report)
        finally:
            for child in children:
                await child.stop()
            await asyncio.gather(*(node.close(handoff=False) for node in local), return_exceptions=True)
            host.close()
            ctx.term()


def _prefixed(report: Callable[[str], None], prefix: str, text: str) -> None:
    report(prefix + text)


def _shard_args(
    index: int, size: int, seeds: list[str], s: DHTSettings, seed: int, join_concurrency: int
) -> dict[str, Any]:
    return {
        "index": index,
        "nodes": size,
        "bootstrap": seeds,
        "seed": seed + index,
        "join_concurrency": join_concurrency,
        "initial_timeout_s": s.initial_timeout_s,
        "bootstrap_timeout_s": s.bootstrap_timeout_s,
        "k": s.k,
        "alpha": s.alpha,
    }


async def _spawn(args: dict[str, Any], module: str) -> _Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, json.dumps(args),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )  # fmt: skip
    return _Child(process, args["nodes"], args["index"])


async def _event(child: _Child, name: str, *, report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The child's next ``name`` event (its progress lines are passed to ``report``)."""
    assert child.process.stdout is not None
    timeout = _READY_TIMEOUT_S if name == "ready" else _COMMAND_TIMEOUT_S
    while True:
        line = await asyncio.wait_for(child.process.stdout.readline(), timeout)
        if not line:
            code = await child.process.wait()
            raise DHTError(f"shard {child.index} exited (code {code}) before {name!r}")
        event = json.loads(line)
        if event.get("event") == name:
            return dict(event)
        if event.get("event") == "progress" and report is not None:
            report(event["text"])
