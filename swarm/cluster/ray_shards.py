"""Shards placed by Ray: each shard of :func:`synthswarm.swarm.cluster.shards.launch_shards` runs as a Ray
actor.

Ray is an optional extra (``pip install 'synthswarm[ray]'``). :func:`connect` attaches this process
to a cluster by the address Ray's own ``ray.init`` takes: ``auto`` (the cluster ``ray start`` runs on
this machine), ``local`` (a new instance owned by this process, stopped when it is done), or a
cluster's address (``HOST:6379``, ``ray://HOST:10001``). Actors are spread over the cluster's
machines; each binds every interface and advertises the address of the machine Ray put it on, so
shards on different hosts reach each other directly over ZeroMQ. Ray carries only commands and
their answers, never DHT traffic. Every machine of the cluster needs synthswarm installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

from synthswarm.swarm.cluster._shard import Shard
from synthswarm.swarm.errors import ConfigError, DHTError

__all__ = ["RayShard", "connect", "node_address", "shard_class"]

_PROGRESS_POLL_S = 2.0


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("ray", "Ray is not installed: pip install 'synthswarm[ray]'") from exc
    return ray


@contextlib.contextmanager
def connect(address: str, *, cpus: int | None = None) -> Iterator[Any]:
    """This process attached to the Ray cluster at ``address`` (see the module docstring); yields
    the ``ray`` module. A cluster this process started (``local``) is stopped on exit; one it only
    joined is left running. ``cpus`` sizes a ``local`` instance."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    local = address == "local"
    if address not in ("auto", "local"):
        _probe(address)  # Ray itself retries an address nothing listens at for minutes
    try:
        ray.init(
            address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
            **({"num_cpus": cpus} if local and cpus else {}),
        )  # fmt: skip
    except Exception as exc:  # Ray raises plain Exception too, e.g. when a local node times out starting
        raise ConfigError("ray", f"cannot reach a Ray cluster at {address!r}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def _probe(address: str, timeout_s: float = 10.0) -> None:
    """Raise :class:`ConfigError` unless something accepts a TCP connection at ``address``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("ray", f"{address!r} is not auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError("ray", f"cannot reach a Ray cluster at {address!r}: {exc}") from exc


def node_address() -> str:
    """The address other machines of the Ray cluster reach this one at."""
    return str(_ray().util.get_node_ip_address())


def shard_class(module: str) -> type[Shard]:
    """The shard class a module that :func:`~synthswarm.swarm.cluster.shards.launch_shards` is given
    (``module=``) hosts: its ``SHARD`` (the network's own :class:`Shard`, or an application's subclass,
    which answers commands of its own). Imported by name, in the actor: the network floor never imports
    an application's module itself."""
    try:
        found = getattr(importlib.import_module(module), "SHARD", None)
    except ImportError as exc:
        raise ConfigError("ray", f"cannot import the shard module {module!r}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, Shard)):
        raise ConfigError("ray", f"{module!r} names no shard class (SHARD, a subclass of Shard)")
    return found


class _ShardActor:
    """A shard (``module``'s :func:`shard_class`) in a Ray worker, with its progress lines kept until
    the driver asks."""

    def __init__(self, args: dict[str, Any], module: str) -> None:
        placed = {**args, "listen": "tcp://0.0.0.0:*", "advertise": f"tcp://{node_address()}:*"}
        self.shard = shard_class(module)(placed)
        self.lines: list[str] = []

    async def start(self) -> list[str]:
        return await self.shard.start(self.lines.append)

    def progress(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines

    async def command(self, command: dict[str, Any]) -> dict[str, Any]:
        return await self.shard.command(command, self.lines.append)

    async def close(self) -> None:
        await self.shard.close()


class RayShard:
    """The driver's handle on one shard actor."""

    def __init__(self, args: dict[str, Any], module: str, *, cpus: float = 1.0) -> None:
        ray = _ray()
        actor_class = ray.remote(_ShardActor)
        self.nodes: int = args["nodes"]
        self.ids: list[bytes] = []
        self._ray = ray
        self._actor = actor_class.options(num_cpus=cpus, scheduling_strategy="SPREAD").remote(args, module)

    async def ready(self, report: Callable[[str], None]) -> list[bytes]:
        self.ids = [bytes.fromhex(i) for i in await self._reporting(self._actor.start.remote(), report)]
        return self.ids

    async def command(self, report: Callable[[str], None] | None = None, **fields: Any) -> dict[str, Any]:
        return dict(await self._reporting(self._actor.command.remote(fields), report))

    async def _reporting(self, ref: Any, report: Callable[[str], None] | None) -> Any:
        """``ref``'s result, passing the actor's progress lines to ``report`` meanwhile."""
        running = asyncio.ensure_future(self._await(ref))
        while True:
            done, _ = await asyncio.wait({running}, timeout=_PROGRESS_POLL_S)
            for line in await self._await(self._actor.progress.remote()):
                if report is not None:
                    report(line)
            if done:
                return running.result()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._await(self._actor.close.remote()), 60)
        self._ray.kill(self._actor)

    async def _await(self, ref: Any) -> Any:
        try:
            return await ref
        except self._ray.exceptions.RayError as exc:
            raise DHTError(f"a Ray shard failed: {exc}") from exc
