"""What a :class:`~synthswarm.swarm.dht.node.DHTNode` needs of the network under it: a transport
that sends and receives its frames, and a host that can attach one. The ZeroMQ classes of
:mod:`synthswarm.swarm.dht.transport` meet these protocols, and so do a simulated network's
(:mod:`synthswarm.swarm.sim`), which runs the same node code with no sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import zmq.asyncio

from synthswarm.swarm.dht.curve import CurveKeys
from synthswarm.swarm.dht.transport import FrameHandler, TransportStats

__all__ = ["Host", "Transport"]


class Transport(Protocol):
    """What a node needs of its transport: :class:`ZmqTransport`, or a simulated network's
    (:mod:`synthswarm.swarm.sim`), which runs the same node code with no sockets."""

    address: str
    curve: CurveKeys | None
    stats: TransportStats
    link_down: Callable[[str], bool] | None

    async def send_request(self, address: str, frame: bytes) -> None: ...

    def send_reply(self, reply_to: bytes, frame: bytes) -> None: ...

    def forget(self, address: str) -> None: ...

    async def serve(self, on_request: FrameHandler, on_reply: FrameHandler) -> None: ...

    def close(self) -> None: ...


class Host(Protocol):
    """What a node needs of a shared host (:class:`TransportHost`, or a simulated network's): a
    transport for it, and the context its Curve handler would use."""

    @property
    def context(self) -> zmq.asyncio.Context: ...

    def attach(self, *, selector: bytes | None = None) -> Transport: ...
