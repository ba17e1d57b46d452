"""The simulated network: transports that hand frames to each other through the event loop.

Every node's :class:`SimTransport` implements :class:`~synthswarm.swarm.dht.ports.Transport`, so
:class:`~synthswarm.swarm.dht.node.DHTNode` runs on it unchanged. A frame sent is counted at once, at
the simulated socket (by kind, request or reply, and bytes); then it is lost with probability
``loss``, or else handed to the receiver's handler after a one-way delay drawn from the
:class:`NetworkModel`. Each draw is independent. Nothing is sent through a socket.

A request to an address no live node holds fails at once with
:class:`~synthswarm.swarm.dht.transport.SendError`, as ZeroMQ's ``ROUTER_MANDATORY`` does for an
unroutable peer; a reply to a node that has closed meanwhile is dropped (counted).

A network may also hold nodes that exist only as an address until a frame first reaches one
(:meth:`SimNetwork.set_summon`): the frame then brings the node into being
(:mod:`synthswarm.swarm.sim._lazy`) and is handed to it, at the same moment and counted the same way.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import zmq.asyncio

from synthswarm.swarm.dht.curve import CurveKeys
from synthswarm.swarm.dht.ports import Transport
from synthswarm.swarm.dht.transport import FrameHandler, SendError, TransportStats
from synthswarm.swarm.errors import ConfigError

__all__ = [
    "NetworkModel",
    "NetworkStats",
    "SimHost",
    "SimNetwork",
    "SimTransport",
    "Summon",
    "address_index",
    "address_of",
]

_ADDRESS_PREFIX = "sim://"
_Z99 = 2.3263478740408408
"""The standard normal's 99th percentile: a lognormal's p99 is its median times exp(z99 sigma)."""


@dataclass(frozen=True)
class NetworkModel:
    """How messages travel: one-way delay lognormal, loss independent per message."""

    median_latency_s: float = 0.02
    """Median one-way delay of a message (20 ms: hosts a region or a continent apart)."""
    latency_sigma: float = 0.5
    """Standard deviation of the delay's natural logarithm (0.5: p99 about 3.2 times the median)."""
    loss: float = 0.01
    """Probability that any one message (request or reply) is lost, independently of every other."""
    seed: int = 0
    """Seed of the delays and losses drawn."""

    def __post_init__(self) -> None:
        if self.median_latency_s < 0 or self.latency_sigma < 0:
            raise ConfigError("sim.latency", "median and sigma must not be negative")
        if not 0 <= self.loss < 1:
            raise ConfigError("sim.loss", f"must be in [0, 1), got {self.loss}")

    @property
    def p99_latency_s(self) -> float:
        return self.median_latency_s * math.exp(_Z99 * self.latency_sigma)

    def describe(self) -> str:
        return (
            f"one-way delay lognormal, median {self.median_latency_s * 1000:g} ms, "
            f"sigma {self.latency_sigma:g} (p99 {self.p99_latency_s * 1000:.1f} ms); "
            f"loss {self.loss:g} per message, independent"
        )

    def delay(self, rng: random.Random) -> float:
        if self.latency_sigma == 0:
            return self.median_latency_s
        return self.median_latency_s * math.exp(rng.gauss(0.0, self.latency_sigma))


@dataclass
class NetworkStats:
    """Every frame sent on the simulated network, counted where it was sent."""

    requests: int = 0
    replies: int = 0
    bytes: int = 0
    lost: int = 0
    """Frames the loss model dropped."""
    unroutable: int = 0
    """Requests to no live node (failed at the sender) and replies to a node that had closed."""

    @property
    def messages(self) -> int:
        return self.requests + self.replies


#: Makes the node an address names, on the network, when a frame first reaches it (None: nobody's).
Summon = Callable[[str], "SimTransport | None"]


def address_of(index: int) -> str:
    """The address of the ``index``-th node of a network (from 0, in the order nodes are attached)."""
    return f"{_ADDRESS_PREFIX}{index + 1}"


def address_index(address: str) -> int | None:
    """The index :func:`address_of` gave ``address`` (None: not a simulated node's address)."""
    if not address.startswith(_ADDRESS_PREFIX):
        return None
    digits = address[len(_ADDRESS_PREFIX) :]
    return int(digits) - 1 if digits.isdigit() and digits[0] != "0" else None


class SimNetwork:
    """Every simulated node's address, and the model their messages follow."""

    def __init__(self, model: NetworkModel | None = None) -> None:
        self.model = model or NetworkModel()
        self.stats = NetworkStats()
        self._rng = random.Random(self.model.seed)
        self._nodes: dict[str, SimTransport] = {}
        self._next = 0
        self._summon: Summon | None = None
        self._summonable = 0

    def host(self) -> SimHost:
        """A host to pass to :meth:`DHTNode.create` (``host=``): each node it attaches gets an address."""
        return SimHost(self)

    @property
    def nodes(self) -> int:
        return len(self._nodes)

    def set_summon(self, summon: Summon | None, count: int = 0) -> None:
        """Let requests to the first ``count`` addresses (:func:`address_of`) that no live node holds
        reach ``summon``, which answers the node's transport, made then and there, or None for a
        node that is gone (it was summoned before, and has closed)."""
        self._summon, self._summonable = summon, count if summon is not None else 0

    def routable(self, address: str) -> bool:
        """Whether a request to ``address`` leaves the sender: a live node holds it, or may be summoned."""
        if address in self._nodes:
            return True
        index = address_index(address) if self._summonable else None
        return index is not None and index < self._summonable

    def transport(self, address: str) -> SimTransport | None:
        """The live transport at ``address``, if any."""
        return self._nodes.get(address)

    def attach_at(self, address: str) -> SimTransport:
        """A transport at ``address`` (one a summoned node is known by before it exists)."""
        if address in self._nodes:
            raise ValueError(f"{address} is taken")
        transport = self._nodes[address] = SimTransport(self, address)
        return transport

    def _attach(self) -> SimTransport:
        self._next += 1
        return self.attach_at(address_of(self._next - 1))

    def _detach(self, address: str) -> None:
        self._nodes.pop(address, None)

    def _send(self, to: str, frame: bytes, *, reply_to: bytes | None) -> None:
        """Count the frame, then drop it or deliver it after a delay (``reply_to`` None: a reply)."""
        stats = self.stats
        stats.bytes += len(frame)
        if reply_to is None:
            stats.replies += 1
        else:
            stats.requests += 1
        model = self.model
        if model.loss and self._rng.random() < model.loss:
            stats.lost += 1
            return
        asyncio.get_running_loop().call_later(model.delay(self._rng), self._arrive, to, frame, reply_to)

    def _arrive(self, to: str, frame: bytes, reply_to: bytes | None) -> None:
        node = self._nodes.get(to)
        if node is None and reply_to is not None and self._summon is not None and self.routable(to):
            node = self._summon(to)  # a request brings its receiver into being; a reply never does
        if node is None or not node._arrive(frame, reply_to):
            self.stats.unroutable += 1


class SimHost:
    """:class:`~synthswarm.swarm.dht.ports.Host` of a :class:`SimNetwork`. The ZeroMQ context is
    there only because a node keeps one; nothing simulated opens a socket in it."""

    def __init__(self, network: SimNetwork) -> None:
        self.network = network
        self._context: zmq.asyncio.Context | None = None

    @property
    def context(self) -> zmq.asyncio.Context:
        if self._context is None:
            self._context = zmq.asyncio.Context()
        return self._context

    def attach(self, *, selector: bytes | None = None) -> Transport:
        return self.network._attach()

    def close(self) -> None:
        if self._context is not None:
            self._context.term()
            self._context = None


class SimTransport:
    """One node's place on a :class:`SimNetwork` (see the module docstring)."""

    def __init__(self, network: SimNetwork, address: str) -> None:
        self.address = address
        self.curve: CurveKeys | None = None
        self.stats = TransportStats()
        self.link_down: Callable[[str], bool] | None = None
        self._network = network
        self._on_request: FrameHandler | None = None
        self._on_reply: FrameHandler | None = None

    async def send_request(self, address: str, frame: bytes) -> None:
        if self.link_down is not None and self.link_down(address):
            raise SendError(f"cannot send to {address}: link down")
        if not self._network.routable(address):
            self._network.stats.unroutable += 1
            raise SendError(f"cannot send to {address}: no such node")
        self._count_out(frame)
        self._network._send(address, frame, reply_to=self.address.encode())

    def send_reply(self, reply_to: bytes, frame: bytes) -> None:
        self._count_out(frame)
        self._network._send(reply_to.decode(), frame, reply_to=None)

    def forget(self, address: str) -> None:
        """Nothing to close: a simulated connection holds no state."""

    def bind(self, on_request: FrameHandler, on_reply: FrameHandler) -> None:
        """Serve from now on, without waiting for :meth:`serve`'s task to start: a summoned node
        must take the frame that summoned it at once."""
        self._on_request, self._on_reply = on_request, on_reply

    async def serve(self, on_request: FrameHandler, on_reply: FrameHandler) -> None:
        self.bind(on_request, on_reply)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._on_request = self._on_reply = None

    def close(self) -> None:
        self._network._detach(self.address)

    def _count_out(self, frame: bytes) -> None:
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def _arrive(self, frame: bytes, reply_to: bytes | None) -> bool:
        """Hand an arrived frame to this node's handler; False when it serves nothing (yet, or any more)."""
        handler = self._on_reply if reply_to is None else self._on_request
        if handler is None:
            return False
        self.stats.frames_in += 1
        self.stats.bytes_in += len(frame)
        handler(reply_to, frame, None)
        return True
