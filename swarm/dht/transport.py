"""ZeroMQ transport: a host's two ROUTER sockets, and the nodes that send and receive through them.

A :class:`TransportHost` binds a ROUTER for requests in (``server``) and keeps a second ROUTER for
requests out (``client``). The client names each connection itself (``CONNECT_ROUTING_ID``), so one
socket can address any peer, and replies come back on it. Every connection gets a fresh name: libzmq
aborts the process if a new connection reuses the name of one that is still being torn down, which
a disconnect followed by a reconnect to the same address does. Two sockets rather than one bound
ROUTER that also connects out: two peers that both connect to each other would otherwise claim the
same routing id on one socket.

Each node sends and receives through a :class:`ZmqTransport` attached to a host under a *selector*.
A node on its own (``ZmqTransport.open``) has a host to itself and the empty selector, and its
address is the host's endpoint. Many nodes can share one host (:meth:`TransportHost.attach`): their
addresses are the endpoint plus ``/~`` and the selector's hex, and one TCP connection between two
hosts carries every one of their nodes' requests. So a process can run thousands of nodes on two
sockets, where a socket pair each would need tens of thousands of file descriptors. Messages::

    request  [destination selector, source selector, frame]   (client -> server)
    reply    [source selector, frame]                          (server -> client)

Both sockets set ``ROUTER_MANDATORY`` and send without blocking, so a message to an unreachable peer
or into a full queue fails at once instead of vanishing; send and receive queues are bounded by
high-water marks, and ``MAXMSGSIZE`` drops a connection that sends an absurd frame.

The sockets are plain (blocking-API) pyzmq sockets used only with ``NOBLOCK``, read from the event
loop's reader callback on ``ZMQ_FD``: each wake-up drains every queued message (up to a batch) and
hands each to its node's synchronous handler. ``zmq.asyncio`` instead builds a future and
reschedules poller events for every message, which profiling showed to be most of the CPU an RPC
cost. ``ZMQ_FD`` is edge-triggered and a send can consume its edge, so every send re-checks
``ZMQ_EVENTS`` on the next loop turn.

Given :class:`~synthswarm.swarm.dht.curve.CurveKeys`, both sockets speak CurveZMQ: the server authenticates
and encrypts every connection (its ZAP handler names the connection by the client's Curve key, which requests
are handed along with), and each outgoing connection pins the server key carried in the peer's address. A
connection proves one key, so a secured host carries one node.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from synthswarm.swarm.dht.curve import ZAP_DOMAIN, CurveKeys, split_address
from synthswarm.swarm.dht.messages import MAX_FRAME_BYTES

__all__ = [
    "SendError",
    "TransportHost",
    "TransportSettings",
    "TransportStats",
    "ZmqTransport",
    "advertised_address",
    "new_context",
    "outward_host",
    "request_parts",
    "split_selector",
]

log = logging.getLogger(__name__)

#: (reply_to, frame, peer key): ``reply_to`` is what to answer through, or None for a reply frame;
#: ``peer key`` is the Curve key the sending connection proved (secured requests only).
#: Handlers run inside the socket's reader callback, so they must not block (spawn work that waits).
FrameHandler = Callable[[bytes | None, bytes, bytes | None], None]

_BATCH = 256
"""Messages read per wake-up before yielding to other callbacks (the rest are read on the next turn)."""
_SELECTOR_MARK = "/~"


class SendError(Exception):
    """Internal: a frame could not be handed to ZeroMQ (peer unreachable or its queue full)."""


@dataclass(frozen=True)
class TransportSettings:
    high_water_mark: int = 1000
    """Messages queued per peer connection before sends to it fail (a shared host carries many
    nodes' messages on one connection: give it more)."""
    max_connections: int = 512
    """Outgoing connections kept open; the least recently used beyond this are closed."""
    connect_wait_s: float = 0.5
    """How long a send waits for a new TCP connection to finish its handshake."""
    max_message_bytes: int = 4 * MAX_FRAME_BYTES
    """Connections that send a larger message are dropped by ZeroMQ itself."""


@dataclass
class TransportStats:
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    bad_envelopes: int = 0
    """Messages that were not [selector(s), frame], or named no node of the host."""


def new_context(max_sockets: int = 32768) -> zmq.asyncio.Context:
    """A ZeroMQ context for many nodes in one process (each node on its own uses two sockets).

    The limit is generous on purpose: libzmq also needs a socket for every ``inproc://`` connection
    still pending when the context ends (one per connect to a node that has died), and it aborts the
    process if it cannot make one.
    """
    ctx = zmq.asyncio.Context()
    ctx.set(zmq.MAX_SOCKETS, min(max_sockets, ctx.get(zmq.SOCKET_LIMIT)))
    return ctx


def request_parts(frame: bytes, address: str = "") -> list[bytes]:
    """The message a plain DEALER socket sends to make a request of the node at ``address`` (the
    host's own node when empty): for tests, tools and the fault benchmark. Replies come back as
    ``[selector, frame]``."""
    return [split_selector(address)[1] if address else b"", b"", frame]


def split_selector(address: str) -> tuple[str, bytes]:
    """(host address, selector) of a node's address; the selector is empty for a node on its own."""
    endpoint, key = split_address(address)
    host, mark, selector = endpoint.rpartition(_SELECTOR_MARK)
    if not mark:
        return address, b""
    try:
        sel = bytes.fromhex(selector)
    except ValueError:
        return address, b""
    return (f"{host}#{key.hex()}" if key is not None else host), sel


class TransportHost:
    """Two sockets and the nodes attached to them. Build with :meth:`open`; close with :meth:`close`."""

    def __init__(
        self, context: zmq.asyncio.Context, server: zmq.Socket[bytes], client: zmq.Socket[bytes],
        address: str, settings: TransportSettings, curve: CurveKeys | None,
    ) -> None:  # fmt: skip
        self.context = context
        self.curve = curve
        self.address = address
        self.settings = settings
        self.stats = TransportStats()
        """Messages no attached node could take (``bad_envelopes``); each node counts its own frames."""
        self._server = server
        self._client = client
        self._connected: OrderedDict[str, bytes] = OrderedDict()  # host address -> routing id
        self._connections_made = 0
        self._selectors = 0
        self._requests: dict[bytes, FrameHandler] = {}
        self._replies: dict[bytes, FrameHandler] = {}
        self._nodes: dict[bytes, ZmqTransport] = {}
        self._recheck: dict[zmq.Socket[bytes], bool] = {server: False, client: False}
        """Sockets whose readiness must be checked again next turn (a send may have taken the edge)."""
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def open(
        cls,
        ctx: zmq.asyncio.Context,
        listen: str,
        settings: TransportSettings | None = None,
        curve: CurveKeys | None = None,
        advertise: str | None = None,
    ) -> TransportHost:
        """Bind ``listen`` (``tcp://127.0.0.1:*`` picks a free port) and make the outgoing socket;
        with ``curve`` both are secured (``listen`` must then be ``tcp://`` or ``ipc://``). The
        host's address is what :func:`advertised_address` makes of the bound one and ``advertise``."""
        s = settings or TransportSettings()
        if curve is not None and listen.startswith("inproc://"):
            raise OSError(0, "CurveZMQ needs tcp:// or ipc://: ZeroMQ does not secure inproc://")
        server = _socket(ctx, s)
        if curve is not None:
            server.setsockopt(zmq.CURVE_SERVER, 1)
            server.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
            server.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        try:
            server.bind(listen)
        except zmq.ZMQError as exc:
            server.close(linger=0)
            raise OSError(exc.errno, f"cannot listen on {listen}: {exc}") from exc
        address = advertised_address(server.getsockopt_string(zmq.LAST_ENDPOINT), advertise)
        client = _socket(ctx, s)
        if curve is not None:
            client.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
            client.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
        return cls(ctx, server, client, address, s, curve)

    def attach(self, *, selector: bytes | None = None) -> ZmqTransport:
        """A transport for one more node on this host (its address names its selector)."""
        if self.curve is not None and self._nodes:
            raise OSError(0, "a secured host carries one node: its connections prove one key")
        if selector is None:
            self._selectors += 1
            selector = self._selectors.to_bytes(4, "big")
        if selector in self._nodes:
            raise OSError(0, f"selector {selector.hex()} is taken on {self.address}")
        address = f"{self.address}{_SELECTOR_MARK}{selector.hex()}" if selector else self.address
        transport = ZmqTransport(self, selector, address)
        self._nodes[selector] = transport
        return transport

    @property
    def nodes(self) -> int:
        return len(self._nodes)

    def close(self) -> None:
        """Stop reading and close both sockets (every attached node goes quiet)."""
        if self._loop is not None and not self._loop.is_closed():
            for sock in (self._server, self._client):
                if not sock.closed:
                    self._loop.remove_reader(_fd(sock))
        self._loop = None
        self._server.close(linger=0)
        self._client.close(linger=0)

    # --- used by the attached transports ------------------------------------------------------------

    def _listen(self, selector: bytes, on_request: FrameHandler, on_reply: FrameHandler) -> None:
        self._requests[selector] = on_request
        self._replies[selector] = on_reply
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            for sock in (self._server, self._client):
                self._loop.add_reader(_fd(sock), self._drain, sock)
                self._loop.call_soon(self._drain, sock)  # what arrived before the reader was added

    def _unlisten(self, selector: bytes) -> None:
        self._requests.pop(selector, None)
        self._replies.pop(selector, None)

    def _detach(self, selector: bytes) -> None:
        self._unlisten(selector)
        self._nodes.pop(selector, None)

    async def _send_request(self, address: str, selector: bytes, frame: bytes) -> None:
        host, destination = split_selector(address)
        fresh = host not in self._connected
        peer = self._connect(host)
        loop = asyncio.get_running_loop()
        # Only a fresh connection deserves patience; an established one that turns unroutable has
        # lost its peer, and waiting would only delay the caller's failover.
        deadline = loop.time() + (self.settings.connect_wait_s if fresh else 0.0)
        delay = 0.0005
        while True:
            try:
                self._client.send_multipart([peer, destination, selector, frame], flags=zmq.NOBLOCK)
                self._sent_on(self._client)
                return
            except zmq.ZMQError as exc:
                # A fresh TCP connection is unroutable until its handshake completes: wait a little.
                if exc.errno != errno.EHOSTUNREACH or loop.time() >= deadline:
                    raise SendError(f"cannot send to {address}: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _send_reply(self, reply_to: bytes, frame: bytes) -> None:
        routing_id, selector = _split_reply_to(reply_to)
        try:
            self._server.send_multipart([routing_id, selector, frame], flags=zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            raise SendError(f"cannot reply: {exc}") from exc
        finally:
            self._sent_on(self._server)

    def _forget(self, address: str) -> None:
        """Close the connection to the node at ``address``, unless other nodes share its host (a
        host that still answers for them must stay connected)."""
        host, selector = split_selector(address)
        if not selector and self._connected.pop(host, None) is not None:
            self._disconnect(host)

    # --- reading ----------------------------------------------------------------------------------

    def _drain(self, sock: zmq.Socket[bytes]) -> None:
        """Read every message queued on ``sock`` (at most a batch; the rest next turn)."""
        self._recheck[sock] = False
        replies = sock is self._client
        # Messages as bytes: zmq.Frame objects cost more than the copy of a small message, and only
        # a secured request needs its frame's metadata (the Curve key its connection proved).
        framed = self.curve is not None and not replies
        for _ in range(_BATCH):
            if _closed(sock):
                return
            try:
                if framed:
                    frames = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
                    parts, peer = [f.bytes for f in frames], _peer_key(frames[-1])
                else:
                    parts, peer = sock.recv_multipart(flags=zmq.NOBLOCK), None
            except zmq.Again:
                return
            except zmq.ZMQError:
                if _closed(sock):  # closed under us (a killed host): stop reading, quietly
                    return
                raise
            if replies:
                self._take_reply(parts)
            else:
                self._take_request(parts, peer)
        self._sent_on(sock)  # a full batch: more may wait, read them after other callbacks

    def _take_request(self, parts: list[bytes], peer: bytes | None) -> None:
        handler = self._requests.get(parts[1]) if len(parts) == 4 else None
        if handler is None:
            self.stats.bad_envelopes += 1
            return
        routing_id, selector, source, frame = parts
        node = self._nodes[selector]
        node.stats.frames_in += 1
        node.stats.bytes_in += len(frame)
        handler(_reply_to(routing_id, source), frame, peer)

    def _take_reply(self, parts: list[bytes]) -> None:
        handler = self._replies.get(parts[1]) if len(parts) == 3 else None
        if handler is None:
            self.stats.bad_envelopes += 1
            return
        frame = parts[2]
        node = self._nodes[parts[1]]
        node.stats.frames_in += 1
        node.stats.bytes_in += len(frame)
        handler(None, frame, None)

    def _sent_on(self, sock: zmq.Socket[bytes]) -> None:
        """ZMQ_FD is edge-triggered and a send can consume the edge that announces new messages, so
        look at the socket again on the next loop turn (once, however many sends)."""
        if not self._recheck.get(sock, True) and self._loop is not None:
            self._recheck[sock] = True
            self._loop.call_soon(self._drain, sock)

    # --- connections ------------------------------------------------------------------------------

    def _connect(self, host: str) -> bytes:
        routing_id = self._connected.get(host)
        if routing_id is not None:
            self._connected.move_to_end(host)
            return routing_id
        endpoint, server_key = split_address(host)
        if self.curve is not None:
            if server_key is None:
                raise SendError(f"{host} is not a secured address (no Curve key)")
            self._client.setsockopt(zmq.CURVE_SERVERKEY, server_key)
        self._connections_made += 1
        routing_id = self._connections_made.to_bytes(8, "big")
        self._client.setsockopt(zmq.CONNECT_ROUTING_ID, routing_id)
        try:
            self._client.connect(endpoint)
        except zmq.ZMQError as exc:
            raise SendError(f"cannot connect to {host}: {exc}") from exc
        self._connected[host] = routing_id
        while len(self._connected) > self.settings.max_connections:
            oldest, _ = self._connected.popitem(last=False)
            self._disconnect(oldest)
        return routing_id

    def _disconnect(self, host: str) -> None:
        try:
            self._client.disconnect(split_address(host)[0])
        except zmq.ZMQError:
            log.debug("disconnect from %s: not connected", host)


class ZmqTransport:
    """How one node sends and receives: through its host, under its selector. A node on its own gets
    a host to itself from :meth:`open`."""

    def __init__(
        self, host: TransportHost, selector: bytes, address: str, *, owns_host: bool = False
    ) -> None:
        self._host = host
        self._selector = selector
        self._owns_host = owns_host
        self.address = address
        self.curve = host.curve
        self.stats = host.stats if owns_host else TransportStats()
        self.link_down: Callable[[str], bool] | None = None
        """Fault injection: requests to addresses this answers True for fail as unreachable."""

    @classmethod
    def open(
        cls,
        ctx: zmq.asyncio.Context,
        listen: str,
        settings: TransportSettings | None = None,
        curve: CurveKeys | None = None,
    ) -> ZmqTransport:
        """A node on its own: a host bound at ``listen`` (see :meth:`TransportHost.open`) for it alone."""
        host = TransportHost.open(ctx, listen, settings, curve)
        transport = cls(host, b"", host.address, owns_host=True)
        host._nodes[b""] = transport
        return transport

    async def send_request(self, address: str, frame: bytes) -> None:
        """Send a request frame to the node at ``address``; raises :class:`SendError`."""
        if self.link_down is not None and self.link_down(address):
            raise SendError(f"cannot send to {address}: link down")
        await self._host._send_request(address, self._selector, frame)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def send_reply(self, reply_to: bytes, frame: bytes) -> None:
        self._host._send_reply(reply_to, frame)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def forget(self, address: str) -> None:
        """Close the outgoing connection to ``address`` (a peer that left or failed)."""
        self._host._forget(address)

    async def serve(self, on_request: FrameHandler, on_reply: FrameHandler) -> None:
        """Hand this node's messages to the handlers until cancelled. Handlers must not raise."""
        self._host._listen(self._selector, on_request, on_reply)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._host._unlisten(self._selector)

    def close(self) -> None:
        """Detach from the host (closing it when it was this node's own)."""
        self._host._detach(self._selector)
        if self._owns_host:
            self._host.close()


def _socket(ctx: zmq.Context[Any], s: TransportSettings) -> zmq.Socket[bytes]:
    # A plain socket even in an asyncio context: see the module docstring.
    sock: zmq.Socket[bytes] = zmq.Socket(ctx, zmq.ROUTER)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, s.high_water_mark)
    sock.setsockopt(zmq.RCVHWM, s.high_water_mark)
    sock.setsockopt(zmq.MAXMSGSIZE, s.max_message_bytes)
    return sock


def _reply_to(routing_id: bytes, selector: bytes) -> bytes:
    return len(routing_id).to_bytes(1, "big") + routing_id + selector


def _split_reply_to(reply_to: bytes) -> tuple[bytes, bytes]:
    n = reply_to[0]
    return reply_to[1 : 1 + n], reply_to[1 + n :]


def _fd(sock: zmq.Socket[bytes]) -> int:
    return int(sock.getsockopt(zmq.FD))


def _closed(sock: zmq.Socket[bytes]) -> bool:
    return bool(sock.closed)


def _peer_key(frame: zmq.Frame) -> bytes | None:
    """The Curve key the ZAP handler named the sending connection by."""
    try:
        return bytes.fromhex(str(frame.get("User-Id")))
    except (zmq.ZMQError, ValueError, TypeError):
        return None


def advertised_address(bound: str, advertise: str | None = None) -> str:
    """The address peers should use. ``advertise`` wins; ending in ``:*`` it takes the bound port
    (nodes on ephemeral ports behind one advertised host). A wildcard bind is advertised under this
    machine's address on its default route (``gethostbyname(hostname)`` is often 127.0.1.1)."""
    port = bound.rsplit(":", 1)[1]
    if advertise:
        return advertise[:-1] + port if advertise.endswith(":*") else advertise
    if "://0.0.0.0:" in bound or "://*:" in bound:
        return f"{bound.split('://', 1)[0]}://{outward_host()}:{port}"
    return bound


def outward_host() -> str:
    """This machine's address on its default route: a UDP socket "connected" to a non-local address
    sends nothing but makes the kernel pick the interface. Falls back to the host name's address."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never routed anywhere real
            host = str(probe.getsockname()[0])
    except OSError:
        host = ""
    if not host or host == "0.0.0.0":
        host = socket.gethostbyname(socket.gethostname())
    if host.startswith("127."):
        log.warning("no address but loopback found to advertise (%s): pass advertise= for other hosts", host)
    return host
