"""A shard of :func:`synthswarm.swarm.cluster.shards.launch_shards`: nodes on one transport host.

:class:`Shard` is the shard itself, whatever process hosts it: it joins its nodes through the given
addresses, then answers commands (plain dicts): ``{"cmd": "stats"}``, ``{"cmd": "kill", "fraction":
F, "seed": S}``, and for routing benchmarks ``{"cmd": "subscribe", ...}`` (agents on its nodes,
through a :class:`~synthswarm.swarm.routers.dht.DHTRouter`) and ``{"cmd": "received"}`` (which packets reached
which agents). Two hosts run it: a child process (``python -m synthswarm.swarm.cluster._shard ARGS_JSON``,
which prints ``{"event": "ready", "ids": [...]}`` and then answers one JSON command a line on stdin, ending at
``{"cmd": "quit"}``), and a Ray actor (:mod:`synthswarm.swarm.cluster.ray_shards`).

The semantic router sits in the network layer with the DHT, so the shard may use it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from synthswarm.swarm import tasks
from synthswarm.swarm.cluster._join import join
from synthswarm.swarm.dht.node import DHTNode, DHTSettings, requests_by_category
from synthswarm.swarm.dht.testing import SHARED_HOST_SETTINGS
from synthswarm.swarm.dht.transport import TransportHost, new_context
from synthswarm.swarm.packet import OutcomePacket
from synthswarm.swarm.routers import subscribe_in_batches
from synthswarm.swarm.routers.dht import DHTRouter, DHTRouterSettings
from synthswarm.swarm.semantic import LSHSettings, SemanticHasher


class Shard:
    """``args["nodes"]`` nodes on one transport host bound at ``args.get("listen")`` (TCP loopback
    by default) and advertised as ``args.get("advertise")``, joined through ``args["bootstrap"]``."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.nodes: list[DHTNode] = []
        self._agents = _Agents()
        self._ctx = new_context()
        self._host: TransportHost | None = None

    async def start(self, progress: Callable[[str], None]) -> list[str]:
        """Join every node; returns their ids, hex."""
        args = self.args
        settings = self.dht_settings()
        rng = random.Random(args["seed"])
        self._host = host = TransportHost.open(
            self._ctx, args.get("listen", "tcp://127.0.0.1:*"), SHARED_HOST_SETTINGS,
            advertise=args.get("advertise"),
        )  # fmt: skip
        known = list(args["bootstrap"])
        while len(self.nodes) < args["nodes"]:
            batch = min(args["join_concurrency"], args["nodes"] - len(self.nodes))
            self.nodes += await asyncio.gather(*(join(settings, host, known, rng) for _ in range(batch)))
            known = list(args["bootstrap"]) + [n.address for n in self.nodes[-64:]]
            progress(f"joined {len(self.nodes)}/{args['nodes']} nodes")
        return [n.node_id.hex() for n in self.nodes]

    def dht_settings(self) -> DHTSettings:
        """The nodes' protocol settings, from the arguments (a shard told more may override this)."""
        args = self.args
        return DHTSettings(
            initial_timeout_s=args["initial_timeout_s"], k=args["k"], alpha=args["alpha"],
            bootstrap_timeout_s=args["bootstrap_timeout_s"],
        )  # fmt: skip

    async def command(
        self, command: dict[str, Any], progress: Callable[[str], None] = lambda _: None
    ) -> dict[str, Any]:
        """Answer one command (see the module docstring); a long one reports to ``progress``."""
        nodes = self.nodes
        name = command["cmd"]
        if name == "subscribe":
            await self._agents.subscribe(nodes, command, progress)
            return self._agents.router_stats()
        if name == "received":
            return {"received": self._agents.take_received()}
        if name == "stats":
            return {
                "rpcs": dict(requests_by_category(nodes)),
                "bytes_out": sum(n.transport_stats().bytes_out for n in nodes),
                "cpu_s": time.process_time(),
            }
        if name == "kill":
            rng = random.Random(command["seed"])
            alive = [n for n in nodes if not n.closed]
            victims = rng.sample(alive, int(len(nodes) * command["fraction"]))
            await asyncio.gather(*(v.kill() for v in victims))
            return {"count": len(victims)}
        if name == "quit":
            return {}
        raise ValueError(f"unknown shard command {name!r}")

    async def close(self) -> None:
        await asyncio.gather(*(n.close(handoff=False) for n in self.nodes), return_exceptions=True)
        if self._host is not None:
            self._host.close()
        self._ctx.term()


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def main(args: dict[str, Any], shard: Shard | None = None) -> None:
    """The child-process host: JSON lines on stdin and stdout (``shard``: one that answers more
    commands, for an application's shards; by default this module's own)."""
    shard = shard or Shard(args)
    try:
        ids = await shard.start(lambda text: _emit("progress", text=text))
        _emit("ready", ids=ids)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=256 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            command = json.loads(line)
            _emit(command["cmd"], **await shard.command(command, lambda text: _emit("progress", text=text)))
            if command["cmd"] == "quit":
                return
    finally:
        await shard.close()


class _Agents:
    """Agents subscribed through a semantic router on this shard's nodes (one per node), and the
    packets they received: for routing benchmarks across processes."""

    def __init__(self) -> None:
        self.router: DHTRouter | None = None
        self.received: dict[str, list[str]] = {}

    async def subscribe(
        self, nodes: list[DHTNode], command: dict[str, Any], progress: Callable[[str], None]
    ) -> None:
        lsh = LSHSettings(**command["lsh"])
        settings = DHTRouterSettings(m=command["m"], threshold=command["threshold"])
        self.router = router = DHTRouter(SemanticHasher(command["dims"], lsh), settings)
        vectors = np.frombuffer(base64.b64decode(command["vectors"]), np.float32).reshape(-1, command["dims"])
        ids = [bytes.fromhex(i) for i in command["agents"]]
        if len(ids) != len(nodes) or len(vectors) != len(ids):
            raise ValueError(f"{len(ids)} agents and {len(vectors)} vectors for {len(nodes)} nodes")

        def inbox(agent: bytes) -> Callable[[OutcomePacket], Awaitable[None]]:
            async def deliver(packet: OutcomePacket) -> None:
                self.received.setdefault(packet.id.hex(), []).append(agent.hex())

            return deliver

        rows = [(ids[i], vectors[i], inbox(ids[i]), nodes[i]) for i in range(len(ids))]
        await subscribe_in_batches(router, rows, done=lambda k: progress(f"subscribed {k}/{len(ids)} agents"))

    def router_stats(self) -> dict[str, int]:
        stats = self.router.stats() if self.router is not None else None
        if stats is None:
            return {}
        return {
            "subscribe_messages": stats.subscribe_messages,
            "subscriptions_lost": stats.subscriptions_lost,
            "subscription_stores_refused": stats.subscription_stores_refused,
            "subscription_retries": stats.subscription_retries,
        }

    def take_received(self) -> dict[str, list[str]]:
        received, self.received = self.received, {}
        return received


#: The class this module hosts, for a Ray actor (:func:`synthswarm.swarm.cluster.ray_shards.shard_class`).
SHARD = Shard

if __name__ == "__main__":
    tasks.run(main(json.loads(sys.argv[1])))
