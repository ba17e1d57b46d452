"""The RPC server of a node: a request frame in, checked (well formed, from the key its connection
proved, within its sender's rate), answered. Application requests (:class:`AppRequest`) run beside the
read loop in a bounded number of slots. :meth:`RpcServer.answer_local` answers the node's requests to
itself with the same handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht._node.wire import Wire
from synthswarm.swarm.dht.curve import split_address
from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.limits import RateLimiter, SlotLimiter
from synthswarm.swarm.dht.messages import (
    MAX_CONTACTS,
    MAX_FRAME_BYTES,
    AppReply,
    AppRequest,
    Envelope,
    ErrorReply,
    FindNode,
    FindValue,
    FoundNodes,
    FoundValue,
    Message,
    Ping,
    Pong,
    Record,
    Store,
    Stored,
    StoredMany,
    StoreMany,
)
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.dht.storage import RecordStore
from synthswarm.swarm.dht.transport import SendError
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.tasks import TaskSet
from synthswarm.swarm.telemetry import remote_parent

__all__ = ["AppHandler", "RpcServer"]

log = logging.getLogger(__name__)

#: Serves an application request: (sender, payload) -> reply payload.
AppHandler = Callable[[Contact, bytes], Awaitable[bytes]]


class RpcServer:
    """Answers the requests to the node on ``wire`` from its ``table`` and ``store``. Each STORE goes
    to ``accept``; each peer that asks something, to ``heard``."""

    def __init__(
        self,
        wire: Wire,
        settings: DHTSettings,
        tasks: TaskSet,
        *,
        table: RoutingTable,
        store: RecordStore,
        accept: Callable[[Store], Stored],
        heard: Callable[[Contact], None],
    ) -> None:
        self._wire = wire
        self._stats = wire.stats
        self._contact = wire.contact
        self._tasks = tasks
        self._table = table
        self._store = store
        self._accept = accept
        self._heard = heard
        self._apps: dict[str, AppHandler] = {}
        lim = settings.limits
        self._rates = RateLimiter(lim.requests_per_s, lim.burst, lim.max_peers_tracked)
        self._slots = SlotLimiter(lim.max_app_requests, lim.max_app_requests_per_peer)

    # --- application handlers ---------------------------------------------------------------------

    def register_app(self, topic: str, handler: AppHandler) -> None:
        self._apps[topic] = handler

    def app_topics(self) -> frozenset[str]:
        return frozenset(self._apps)

    def app_handler(self, topic: str) -> AppHandler | None:
        return self._apps.get(topic)

    # --- requests ---------------------------------------------------------------------------------

    def on_request(self, routing_id: bytes | None, frame: bytes, peer_key: bytes | None) -> None:
        """A request frame from the transport (``peer_key``: the Curve key its connection proved)."""
        envelope = self._checked(routing_id, frame, peer_key)
        if envelope is None or routing_id is None:
            return
        self._stats.rpcs_served += 1
        if envelope.sender.node_id != self._contact.node_id:
            self._heard(envelope.sender)
        message = envelope.message
        if isinstance(message, AppRequest):
            # Application handlers may do RPCs of their own: run them beside the read loop, in a
            # bounded number of slots so a flood cannot pile up tasks.
            if not self._slots.acquire(envelope.sender_key):
                self._stats.busy_refused += 1
                self._reply(routing_id, envelope, ErrorReply("busy", "too many requests in service"))
                return
            self._tasks.spawn(self._serve_app(routing_id, envelope, message), name="app")
            return
        self._reply(routing_id, envelope, self._answer(envelope.sender, message))

    async def answer_local(self, message: Message) -> Message:
        """Answer a request this node sent itself, as a peer's, served and counted the same way but
        in the caller's task: no rate or slot limit (those guard against peers), no frame."""
        self._stats.rpcs_served += 1
        if isinstance(message, AppRequest):
            return await self._app_answer(self._contact, message)
        return self._answer(self._contact, message)

    def _checked(self, routing_id: bytes | None, frame: bytes, peer_key: bytes | None) -> Envelope | None:
        """The request in ``frame``, or None for one dropped unanswered (counted why)."""
        envelope = self._wire.read(frame, "request")
        if envelope is None:
            return None
        if not envelope.message.is_request or routing_id is None:
            self._stats.bad_frames += 1
            return None
        if self._wire.secured and not (
            self._wire.proofs.proves(envelope.sender_key, peer_key)
            and split_address(envelope.sender_address)[1] == peer_key
        ):
            self._stats.impostors += 1  # claims a key (or advertises one) its connection did not prove
            return None
        # The loop's clock, as the client's back-off: virtual seconds in a simulation.
        if not self._rates.allow(envelope.sender_key, now=asyncio.get_running_loop().time()):
            self._stats.rate_limited += 1
            return None  # unanswered: the cheapest response to a flood
        return envelope

    def _answer(self, sender: Contact, message: Message) -> Message:
        if isinstance(message, Ping):
            return Pong()
        if isinstance(message, FindNode):
            return FoundNodes(
                tuple(self._table.closest(message.target, message.count, exclude=sender.node_id))
            )
        if isinstance(message, Store):
            return self._accept(message)
        if isinstance(message, StoreMany):
            return StoredMany(tuple(self._accept(item) for item in message.items))
        if isinstance(message, FindValue):
            records = _fit(self._store.get(message.key))
            contacts = (
                ()
                if records
                else tuple(self._table.closest(message.key, message.count, exclude=sender.node_id))
            )
            return FoundValue(tuple(records), contacts)
        return ErrorReply("unsupported", f"{type(message).__name__} is not served here")

    async def _serve_app(self, routing_id: bytes, envelope: Envelope, message: AppRequest) -> None:
        try:
            answer = await self._app_answer(envelope.sender, message)
        finally:
            self._slots.release(envelope.sender_key)
        self._reply(routing_id, envelope, answer)

    async def _app_answer(self, sender: Contact, message: AppRequest) -> Message:
        handler = self._apps.get(message.topic)
        if handler is None:
            return ErrorReply("unknown-topic", message.topic)
        try:
            with remote_parent(message.trace):  # the sender's trace, if it sent a valid one
                return AppReply(await handler(sender, message.payload))
        except DHTError as exc:
            return ErrorReply("failed", str(exc)[:300])
        except Exception:  # a handler's bug must not cost the caller a timeout, nor the node its life
            log.exception("handler for %s failed", message.topic)
            self._stats.handler_failures += 1
            return ErrorReply("internal", "the handler failed")

    def _reply(self, routing_id: bytes, request: Envelope, message: Message) -> None:
        try:
            self._wire.transport.send_reply(routing_id, self._wire.frame(request.rpc_id, message))
        except SendError as exc:
            log.debug("reply to %s lost: %s", request.sender.short(), exc)


def _fit(records: list[Record]) -> list[Record]:
    """As many records as fit one reply frame."""
    budget, out = MAX_FRAME_BYTES - 2048 - MAX_CONTACTS * 240, []
    for record in records:
        budget -= len(record.value) + len(record.subkey) + 16
        if budget < 0:
            break
        out.append(record)
    return out
