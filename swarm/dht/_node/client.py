"""The RPC client of a node: a request out, its reply matched back by RPC id, with retries,
timeouts measured per peer, and back-off from peers that fail. A request to the node itself is
answered here, the one place, by its own handlers without the socket."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht._node.wire import Wire
from synthswarm.swarm.dht.curve import split_address
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.messages import (
    RPC_ID_BYTES,
    AppReply,
    AppRequest,
    Envelope,
    ErrorReply,
    Message,
    Ping,
)
from synthswarm.swarm.dht.rtt import PeerHealth, RttEstimator
from synthswarm.swarm.dht.transport import SendError
from synthswarm.swarm.errors import DHTError, PeerBusyError, ProtocolError, RPCTimeoutError
from synthswarm.swarm.telemetry import traceparent

__all__ = ["LocalAnswer", "RpcClient"]

#: Answers a request the node sent itself (its server's handlers, without the socket).
LocalAnswer = Callable[[Message], Awaitable[Message]]


class RpcClient:
    """Requests from the node on ``wire``. It tells its node of each peer that answered (``saw``) and
    each that did not (``lost``: the address, and the id expected there)."""

    def __init__(
        self,
        wire: Wire,
        settings: DHTSettings,
        *,
        saw: Callable[[Contact], None],
        lost: Callable[[str, bytes | None], None],
        local: LocalAnswer,
    ) -> None:
        self._wire = wire
        self._stats = wire.stats
        self._settings = settings
        self._saw = saw
        self._lost = lost
        self._local = local
        self._pending: dict[bytes, asyncio.Future[Envelope]] = {}
        self._health: dict[str, PeerHealth] = {}
        self.closed = False
        """Set when the node closes: no request goes out after."""

    async def call(self, contact: Contact, message: Message, *, category: str) -> Message:
        """Send one request and wait for its reply, with retries; raises :class:`RPCTimeoutError`."""
        reply = await self._call_address(contact.address, message, category, expect_id=contact.node_id)
        return reply.message

    async def ping_address(self, address: str) -> Contact:
        """Who answers at ``address`` (for bootstrap, which knows addresses, not ids).

        Asked again after each timeout for as long as ``bootstrap_timeout_s`` allows, not only
        ``rpc_retries`` times: a join often knows one address, and two lost messages would otherwise
        fail it with most of its time to wait unspent (at 1% loss, 1 join in 2,500: one 128-node
        simulated swarm in twenty lost a join that way)."""
        give_up = asyncio.get_running_loop().time() + self._settings.bootstrap_timeout_s
        reply = await self._call_address(address, Ping(), "bootstrap", expect_id=None, give_up=give_up)
        return reply.sender

    async def app_request(self, contact: Contact, topic: str, payload: bytes, *, category: str) -> bytes:
        """The reply payload of ``contact``'s ``topic`` handler; a refusal raises (busy:
        :class:`PeerBusyError`)."""
        reply = await self.call(contact, AppRequest(topic, payload, traceparent()), category=category)
        if isinstance(reply, ErrorReply) and reply.code == "busy":
            raise PeerBusyError(f"{contact.short()} is busy: {reply.message}")
        if isinstance(reply, ErrorReply):
            raise DHTError(f"{contact.short()} refused {topic}: {reply.code}: {reply.message}")
        if not isinstance(reply, AppReply):
            raise ProtocolError(f"expected APP_REPLY, got {type(reply).__name__}")
        return reply.payload

    def on_reply(self, _: bytes | None, frame: bytes, __: bytes | None) -> None:
        """A reply frame from the transport: it completes the request it answers, if still waiting."""
        envelope = self._wire.read(frame, "reply")
        if envelope is None:
            return
        future = self._pending.get(envelope.rpc_id)
        if future is None or future.done() or envelope.message.is_request:
            self._stats.unmatched_replies += 1
            return
        future.set_result(envelope)

    def heard_from(self, address: str) -> None:
        # A peer that timed out under load and was backed off is plainly alive again: without
        # this, our replies to what it just asked would fail fast until the back-off ran out.
        health = self._health.get(address)
        if health is not None:
            health.heard_from()

    def health_of(self, address: str) -> PeerHealth:
        """Round trips and failures of ``address`` (kept for the last ``max_peer_health`` called)."""
        health = self._health.get(address)
        if health is None:
            # Addresses come from peers' answers, so the map is bounded: the oldest entry goes.
            if len(self._health) >= self._settings.max_peer_health:
                del self._health[next(iter(self._health))]
            health = self._health[address] = PeerHealth(self._new_rtt())
        return health

    def cancel_pending(self) -> None:
        for future in self._pending.values():
            future.cancel()

    async def _call_address(
        self,
        address: str,
        message: Message,
        category: str,
        *,
        expect_id: bytes | None,
        give_up: float | None = None,
    ) -> Envelope:
        """The reply to ``message``, asked ``1 + rpc_retries`` times at most, or more while another
        attempt's timeout still ends by the loop time ``give_up``."""
        if self.closed:
            raise DHTError("node is closed")
        if expect_id == self._wire.identity.id or (expect_id is None and address == self._wire.address):
            return await self._answer_own(message, category)
        health = self.health_of(address)
        # Back-off runs on the loop's clock: wall time in a real swarm, virtual time in a simulation
        # (where wall time would make the figures depend on how fast the machine runs).
        loop = asyncio.get_running_loop()
        if health.backed_off(now=loop.time()):
            raise RPCTimeoutError(f"{address} is backed off after {health.failures} failure(s)")
        attempts = 0
        while attempts <= self._settings.rpc_retries or (
            give_up is not None and loop.time() + health.rtt.timeout() <= give_up
        ):
            attempts += 1
            rpc_id = os.urandom(RPC_ID_BYTES)
            future: asyncio.Future[Envelope] = loop.create_future()
            self._pending[rpc_id] = future
            frame = self._wire.frame(rpc_id, message)
            started = loop.time()
            try:
                self._stats.sent(category)
                await self._wire.transport.send_request(address, frame)
                # A timer that fails the future, rather than asyncio.wait_for's extra waiter and
                # callbacks around it: one of the larger Python costs of an RPC.
                timer = loop.call_later(health.rtt.timeout(), _time_out, future)
                try:
                    reply = await future
                finally:
                    timer.cancel()
            except SendError:
                break  # unroutable: a retry would fail the same way
            except TimeoutError:
                continue
            finally:
                self._pending.pop(rpc_id, None)
            if expect_id is not None and reply.sender.node_id != expect_id:
                break  # another node now answers at that address: the contact we knew is gone
            if self._wire.secured and not self._wire.proofs.proves(
                reply.sender_key, split_address(address)[1]
            ):
                self._stats.impostors += 1
                break  # answered by a key other than the one the handshake pinned
            health.succeeded(loop.time() - started)
            self._saw(reply.sender)
            return reply
        self._stats.rpc_failures += 1
        health.failed(now=loop.time())
        self._lost(address, expect_id)
        raise RPCTimeoutError(f"{type(message).__name__} to {address} got no answer")

    async def _answer_own(self, message: Message, category: str) -> Envelope:
        """A request to this very node: its handlers answer it in this task, with no frame, no
        timeout and no back-off. Counted as sent, as it was when it went through the socket."""
        self._stats.sent(category)
        answer = await self._local(message)
        return self._wire.envelope(bytes(RPC_ID_BYTES), answer)

    def _new_rtt(self) -> RttEstimator:
        s = self._settings
        return RttEstimator(s.initial_timeout_s, s.min_timeout_s, s.max_timeout_s)


def _time_out(future: asyncio.Future[Envelope]) -> None:
    """A request's timer fired: fail its future one turn of the loop later, as ``asyncio.wait_for``
    does. After a stall of the loop every timer and every queued reply come due in the same turn, and
    the transport drains a socket a batch a turn; failing at once would throw away replies that had
    already arrived, and their retries would load the loop further (a cascade of hundreds of timeouts
    in a swarm losing nothing, seen in ``tests/integration/test_simulate.py``)."""
    if not future.done():
        future.get_loop().call_soon(_fail, future)


def _fail(future: asyncio.Future[Envelope]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
