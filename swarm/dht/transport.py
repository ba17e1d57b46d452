"""ZeroMQ transport of one node: a bound ROUTER for requests in, a connecting ROUTER for requests out.

The bound ROUTER (``server``) receives ``[routing_id, frame]`` from any peer and replies through the
same routing id. The connecting ROUTER (``client``) names each connection itself
(``CONNECT_ROUTING_ID``), so one socket can address any peer, and replies come back on it. Every
connection gets a fresh name: libzmq aborts the process if a new connection reuses the name of one
that is still being torn down, which a disconnect followed by a reconnect to the same address does.
Two sockets rather than one bound ROUTER that also connects out: two peers that both connect to
each other would otherwise claim the same routing id on one socket.

Both sockets set ``ROUTER_MANDATORY`` and send without blocking, so a message to an unreachable peer
or into a full queue fails at once instead of vanishing; send and receive queues are bounded by
high-water marks, and ``MAXMSGSIZE`` drops a connection that sends an absurd frame.

The sockets are plain (blocking-API) pyzmq sockets used only with ``NOBLOCK``, read from the event
loop's reader callback on ``ZMQ_FD``: each wake-up drains every queued frame (up to a batch) and hands
each to a synchronous handler. ``zmq.asyncio`` instead builds a future and reschedules poller events
for every frame, which profiling showed to be most of the CPU an RPC cost. ``ZMQ_FD`` is
edge-triggered and a send can consume its edge, so every send re-checks ``ZMQ_EVENTS`` on the next
loop turn.

Given :class:`~swarm.dht.curve.CurveKeys`, both sockets speak CurveZMQ: the server authenticates and
encrypts every connection (its ZAP handler names the connection by the client's Curve key, which
requests are handed along with), and each outgoing connection pins the server key carried in the
peer's address.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from swarm.dht.curve import ZAP_DOMAIN, CurveKeys, split_address
from swarm.dht.messages import MAX_FRAME_BYTES

__all__ = ["SendError", "TransportSettings", "TransportStats", "ZmqTransport", "new_context"]

log = logging.getLogger(__name__)

#: (reply_to, frame, peer key): ``reply_to`` is the routing id to answer through, or None for a reply
#: frame; ``peer key`` is the Curve key the sending connection proved (secured requests only).
#: Handlers run inside the socket's reader callback, so they must not block (spawn work that waits).
FrameHandler = Callable[[bytes | None, bytes, bytes | None], None]

_BATCH = 256
"""Frames read per wake-up before yielding to other callbacks (the rest are read on the next turn)."""


class SendError(Exception):
    """Internal: a frame could not be handed to ZeroMQ (peer unreachable or its queue full)."""


@dataclass(frozen=True)
class TransportSettings:
    high_water_mark: int = 1000
    """Messages queued per peer before sends to it fail."""
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
    """Messages that were not exactly [routing id, frame]."""


def new_context(max_sockets: int = 32768) -> zmq.asyncio.Context:
    """A ZeroMQ context for many nodes in one process (each node uses two sockets).

    The limit is generous on purpose: libzmq also needs a socket for every ``inproc://`` connection
    still pending when the context ends (one per connect to a node that has died), and it aborts the
    process if it cannot make one.
    """
    ctx = zmq.asyncio.Context()
    ctx.set(zmq.MAX_SOCKETS, min(max_sockets, ctx.get(zmq.SOCKET_LIMIT)))
    return ctx


class ZmqTransport:
    """The two sockets of a node and the loops that read them. Build with :meth:`open`."""

    def __init__(
        self, ctx: zmq.Context[Any], server: zmq.Socket[bytes], client: zmq.Socket[bytes],
        address: str, settings: TransportSettings, curve: CurveKeys | None = None,
    ) -> None:  # fmt: skip
        self._ctx = ctx
        self.curve = curve
        self._server = server
        self._client = client
        self.address = address
        self.settings = settings
        self._connected: OrderedDict[str, bytes] = OrderedDict()  # address -> routing id
        self._connections_made = 0
        self.stats = TransportStats()
        self.link_down: Callable[[str], bool] | None = None
        """Fault injection: requests to addresses this answers True for fail as unreachable."""
        self._handlers: dict[zmq.Socket[bytes], tuple[FrameHandler, bool]] = {}
        self._recheck: dict[zmq.Socket[bytes], bool] = {server: False, client: False}
        """Sockets whose readiness must be checked again next turn (a send may have taken the edge)."""

    @classmethod
    def open(
        cls,
        ctx: zmq.asyncio.Context,
        listen: str,
        settings: TransportSettings | None = None,
        curve: CurveKeys | None = None,
    ) -> ZmqTransport:
        """Bind ``listen`` (``tcp://127.0.0.1:*`` picks a free port) and make the outgoing socket;
        with ``curve`` both are secured (``listen`` must then be ``tcp://`` or ``ipc://``)."""
        s = settings or TransportSettings()
        if curve is not None and listen.startswith("inproc://"):
            raise OSError(0, "CurveZMQ needs tcp:// or ipc://: ZeroMQ does not secure inproc://")
        server = cls._socket(ctx, s)
        if curve is not None:
            server.setsockopt(zmq.CURVE_SERVER, 1)
            server.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
            server.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN)
        try:
            server.bind(listen)
        except zmq.ZMQError as exc:
            server.close(linger=0)
            raise OSError(exc.errno, f"cannot listen on {listen}: {exc}") from exc
        address = server.getsockopt_string(zmq.LAST_ENDPOINT)
        client = cls._socket(ctx, s)
        if curve is not None:
            client.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
            client.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
        return cls(ctx, server, client, address, s, curve)

    @staticmethod
    def _socket(ctx: zmq.Context[Any], s: TransportSettings) -> zmq.Socket[bytes]:
        # A plain socket even in an asyncio context: see the module docstring.
        sock: zmq.Socket[bytes] = zmq.Socket(ctx, zmq.ROUTER)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, s.high_water_mark)
        sock.setsockopt(zmq.RCVHWM, s.high_water_mark)
        sock.setsockopt(zmq.MAXMSGSIZE, s.max_message_bytes)
        return sock

    async def send_request(self, address: str, frame: bytes) -> None:
        """Send a request frame to the node listening at ``address``; raises :class:`SendError`."""
        if self.link_down is not None and self.link_down(address):
            raise SendError(f"cannot send to {address}: link down")
        fresh = address not in self._connected
        peer = self._connect(address)
        loop = asyncio.get_running_loop()
        # Only a fresh connection deserves patience; an established one that turns unroutable has
        # lost its peer, and waiting would only delay the caller's failover.
        deadline = loop.time() + (self.settings.connect_wait_s if fresh else 0.0)
        delay = 0.0005
        while True:
            try:
                self._client.send_multipart([peer, frame], flags=zmq.NOBLOCK)
                self._sent_on(self._client)
                break
            except zmq.ZMQError as exc:
                # A fresh TCP connection is unroutable until its handshake completes: wait a little.
                if exc.errno != errno.EHOSTUNREACH or loop.time() >= deadline:
                    raise SendError(f"cannot send to {address}: {exc}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def send_reply(self, routing_id: bytes, frame: bytes) -> None:
        try:
            self._server.send_multipart([routing_id, frame], flags=zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            raise SendError(f"cannot reply: {exc}") from exc
        finally:
            self._sent_on(self._server)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def forget(self, address: str) -> None:
        """Close the outgoing connection to ``address`` (a peer that left or failed)."""
        if self._connected.pop(address, None) is not None:
            self._disconnect(address)

    async def serve(self, on_request: FrameHandler, on_reply: FrameHandler) -> None:
        """Read both sockets until cancelled. Handlers must not raise; a bad envelope is counted."""
        loop = asyncio.get_running_loop()
        readers = ((self._server, on_request, False), (self._client, on_reply, True))
        self._handlers = {sock: (handler, replies) for sock, handler, replies in readers}
        for sock, _, _ in readers:
            loop.add_reader(_fd(sock), self._drain, sock)
            loop.call_soon(self._drain, sock)  # frames that arrived before the reader was added
        try:
            await loop.create_future()  # until cancelled
        finally:
            for sock, _, _ in readers:
                if not sock.closed:
                    loop.remove_reader(_fd(sock))
            self._handlers = {}

    def close(self) -> None:
        self._server.close(linger=0)
        self._client.close(linger=0)

    def _drain(self, sock: zmq.Socket[bytes]) -> None:
        """Read every frame queued on ``sock`` (at most a batch; the rest next turn)."""
        self._recheck[sock] = False
        entry = self._handlers.get(sock)
        if entry is None or sock.closed:
            return
        handler, replies = entry
        for _ in range(_BATCH):
            try:
                parts = sock.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            except zmq.ZMQError:
                if _closed(sock):  # closed under us (a killed node): stop reading, quietly
                    return
                raise
            if len(parts) != 2:
                self.stats.bad_envelopes += 1
                continue
            routing_id, frame = parts[0].bytes, parts[1].bytes
            self.stats.frames_in += 1
            self.stats.bytes_in += len(frame)
            peer = None if replies or self.curve is None else _peer_key(parts[1])
            handler(None if replies else routing_id, frame, peer)
            if _closed(sock):  # the handler closed the node
                return
        self._sent_on(sock)  # a full batch: more may wait, read them after other callbacks

    def _sent_on(self, sock: zmq.Socket[bytes]) -> None:
        """ZMQ_FD is edge-triggered and a send can consume the edge that announces new frames, so
        look at the socket again on the next loop turn (once, however many sends)."""
        if not self._recheck.get(sock, True) and sock in self._handlers:
            self._recheck[sock] = True
            asyncio.get_running_loop().call_soon(self._drain, sock)

    def _connect(self, address: str) -> bytes:
        routing_id = self._connected.get(address)
        if routing_id is not None:
            self._connected.move_to_end(address)
            return routing_id
        endpoint, server_key = split_address(address)
        if self.curve is not None:
            if server_key is None:
                raise SendError(f"{address} is not a secured address (no Curve key)")
            self._client.setsockopt(zmq.CURVE_SERVERKEY, server_key)
        self._connections_made += 1
        routing_id = self._connections_made.to_bytes(8, "big")
        self._client.setsockopt(zmq.CONNECT_ROUTING_ID, routing_id)
        try:
            self._client.connect(endpoint)
        except zmq.ZMQError as exc:
            raise SendError(f"cannot connect to {address}: {exc}") from exc
        self._connected[address] = routing_id
        while len(self._connected) > self.settings.max_connections:
            oldest, _ = self._connected.popitem(last=False)
            self._disconnect(oldest)
        return routing_id

    def _disconnect(self, address: str) -> None:
        try:
            self._client.disconnect(split_address(address)[0])
        except zmq.ZMQError:
            log.debug("disconnect from %s: not connected", address)


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
