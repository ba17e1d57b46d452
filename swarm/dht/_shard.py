"""A shard of :func:`swarm.dht.shards.launch_shards`: nodes on one transport host, in a child process.

``python -m swarm.dht._shard ARGS_JSON``. Joins its nodes through the given addresses, prints
``{"event": "ready", "ids": [...]}``, then answers JSON commands on stdin, one per line:
``{"cmd": "stats"}``, ``{"cmd": "kill", "fraction": F, "seed": S}``, ``{"cmd": "quit"}``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

from swarm import tasks
from swarm.dht.node import DHTNode, DHTSettings, requests_by_category
from swarm.dht.testing import SHARED_HOST_SETTINGS
from swarm.dht.transport import TransportHost, new_context


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def main(args: dict[str, Any]) -> None:
    settings = DHTSettings(initial_timeout_s=args["initial_timeout_s"], k=args["k"], alpha=args["alpha"])
    rng = random.Random(args["seed"])
    ctx = new_context()
    host = TransportHost.open(ctx, "tcp://127.0.0.1:*", SHARED_HOST_SETTINGS)
    nodes: list[DHTNode] = []
    known = list(args["bootstrap"])
    try:
        while len(nodes) < args["nodes"]:
            batch = min(args["join_concurrency"], args["nodes"] - len(nodes))
            nodes += await asyncio.gather(
                *(
                    DHTNode.create(settings=settings, host=host, bootstrap=[rng.choice(known)])
                    for _ in range(batch)
                )
            )
            known = list(args["bootstrap"]) + [n.address for n in nodes[-64:]]
            _emit("progress", text=f"joined {len(nodes)}/{args['nodes']} nodes")
        _emit("ready", ids=[n.node_id.hex() for n in nodes])
        await _serve(nodes)
    finally:
        await asyncio.gather(*(n.close(handoff=False) for n in nodes), return_exceptions=True)
        host.close()
        ctx.term()


async def _serve(nodes: list[DHTNode]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "stats":
            rpcs = requests_by_category(nodes)
            _emit(
                "stats",
                rpcs=dict(rpcs),
                bytes_out=sum(n.transport_stats().bytes_out for n in nodes),
                cpu_s=time.process_time(),
            )
        elif command["cmd"] == "kill":
            rng = random.Random(command["seed"])
            alive = [n for n in nodes if not n.closed]
            victims = rng.sample(alive, int(len(nodes) * command["fraction"]))
            await asyncio.gather(*(v.kill() for v in victims))
            _emit("kill", count=len(victims))
        elif command["cmd"] == "quit":
            _emit("quit")
            return


if __name__ == "__main__":
    tasks.run(main(json.loads(sys.argv[1])))
