"""``synthswarm node`` and ``synthswarm dht get/put``: a standalone DHT node, and one-shot clients."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Sequence
from pathlib import Path

from synthswarm.swarm.dht import DHTNode, DHTSettings, key_for
from synthswarm.swarm.dht.curve import split_address
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.routers.dht import serve_rendezvous

__all__ = ["dht_get", "dht_put", "run_node"]


def _emit(event: str, **fields: object) -> None:
    """One JSON line on stdout per event, so scripts and tests can follow a node."""
    print(json.dumps({"event": event, **fields}), flush=True)


async def run_node(
    *,
    listen: str,
    join: Sequence[str],
    advertise: str | None,
    state_dir: Path | None,
    puts: Sequence[tuple[str, str]],
    status_every_s: float,
    secure: bool = False,
    identity: Identity | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then hand records to neighbours and save state. Secured when
    asked, or when a join address is a secured one."""
    node = await DHTNode.create(
        listen=listen, advertise=advertise, bootstrap=join, state_dir=state_dir, identity=identity,
        settings=_settings(join, secure),
    )  # fmt: skip
    serve_rendezvous(node)  # hold semantic subscriptions for swarms that join through this node
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        _emit("listening", address=node.address, node_id=node.node_id.hex(), contacts=len(node.table),
              records=len(node.store), secure=node.settings.secure)  # fmt: skip
        for key, value in puts:
            result = await node.put(key_for(key), value.encode())
            _emit("put", key=key, stored_on=result.stored)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), status_every_s)
            except TimeoutError:
                s = node.stats
                _emit("status", contacts=len(node.table), records=len(node.store), served=s.rpcs_served,
                      bad_frames=s.bad_frames, impostors=s.impostors,
                      rate_limited=s.rate_limited)  # fmt: skip
    finally:
        await node.close(handoff=True)
        _emit("stopped", node_id=node.node_id.hex())


async def dht_get(key: str, join: Sequence[str]) -> int:
    async with await DHTNode.create(bootstrap=join, settings=_settings(join, False)) as node:
        result = await node.get(key_for(key))
        values = [v.decode(errors="replace") for v in result.values]
        hops = result.lookup.hops if result.lookup else 0
        _emit("get", key=key, values=values, hops=hops)
        return 0 if values else 1


async def dht_put(key: str, value: str, join: Sequence[str], ttl_s: int) -> int:
    node = await DHTNode.create(bootstrap=join, settings=_settings(join, False))
    try:
        result = await node.put(key_for(key), value.encode(), ttl_s=ttl_s, republish=False)
        _emit("put", key=key, stored_on=result.stored)
        return 0 if result.stored else 1
    finally:
        await node.close(handoff=False)


def _settings(join: Sequence[str], secure: bool) -> DHTSettings:
    """Secured when asked, or when any join address carries a Curve key (a secured swarm)."""
    return DHTSettings(secure=secure or any(split_address(a)[1] is not None for a in join))
