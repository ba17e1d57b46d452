"""A Kademlia node over ZeroMQ: RPC client and server, lookups, records, maintenance, persistence.

Create one with ``await DHTNode.create(...)`` and close it with ``await node.close()`` (or use it as an
async context manager). Every task a node starts is owned by it and cancelled on close.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import zmq.asyncio
from synthswarm.swarm.dht.curve import CurveKeys, ZapHandler, curve_public_of, secured_address, split_address
from synthswarm.swarm.dht.ids import ID_BYTES, Contact, distance, random_id_in_bucket
from synthswarm.swarm.dht.journal import StateJournal
from synthswarm.swarm.dht.limits import PeerLimits, RateLimiter, SlotLimiter
from synthswarm.swarm.dht.lookup import LookupResult, QueryAnswer, iterative_lookup
from synthswarm.swarm.dht.messages import (
    MAX_CONTACTS,
    MAX_FRAME_BYTES,
    MAX_RECORDS,
    RPC_ID_BYTES,
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
    decode_frame,
    encode_frame,
)
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.dht.rtt import PeerHealth, RttEstimator
from synthswarm.swarm.dht.storage import KEY_FULL, RecordStore, StoreLimits
from synthswarm.swarm.dht.transport import (
    SendError,
    TransportHost,
    TransportSettings,
    TransportStats,
    ZmqTransport,
    advertised_address,
    new_context,
)
from synthswarm.swarm.errors import (
    BootstrapError,
    ConfigError,
    DHTError,
    PeerBusyError,
    ProtocolError,
    RPCTimeoutError,
)
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.tasks import TaskSet
from synthswarm.swarm.telemetry import remote_parent, traceparent

__all__ = ["AppHandler", "DHTNode", "DHTSettings", "GetResult", "NodeStats", "PutResult"]

log = logging.getLogger(__name__)

#: Serves an application request: (sender, payload) -> reply payload.
AppHandler = Callable[[Contact, bytes], Awaitable[bytes]]


@dataclass(frozen=True)
class DHTSettings:
    """Protocol parameters of a node. The defaults follow the Kademlia paper where it gives one."""

    k: int = 20
    """Bucket size and replication factor."""
    alpha: int = 3
    """Parallel queries in a lookup."""
    rpc_retries: int = 1
    """Extra attempts after an RPC times out."""
    initial_timeout_s: float = 1.0
    """Timeout for a peer whose round trip was never measured."""
    min_timeout_s: float = 0.2
    """Floor of a measured timeout: loopback round trips are sub-millisecond, but a process that hosts
    many nodes, or a busy host, stalls for tens of milliseconds, and spurious timeouts evict live peers."""
    max_timeout_s: float = 5.0
    record_ttl_s: int = 3600
    """Lifetime of a stored record unless its publisher re-announces it."""
    republish_interval_s: float = 1200.0
    """How often a publisher re-announces its own records (well inside their ttl)."""
    replicate_interval_s: float = 3600.0
    """How often a node pushes the records it holds to the current k closest nodes."""
    refresh_interval_s: float = 900.0
    """A bucket untouched this long is refreshed with a lookup of a random id in its range."""
    maintenance_tick_s: float = 5.0
    save_interval_s: float = 30.0
    """With a state directory: how often records and contacts are written to it."""
    bootstrap_timeout_s: float = 5.0
    """How long bootstrap waits for any address to answer before giving up."""
    store_limits: StoreLimits = field(default_factory=StoreLimits)
    limits: PeerLimits = field(default_factory=PeerLimits)
    """Per-peer request rates and concurrent application requests (abuse limits)."""
    holders_cache_s: float = 30.0
    """Stores to one key within this long share one lookup of its closest nodes (0: only stores
    made while that lookup is in flight)."""
    max_peer_health: int = 4096
    """Round-trip and back-off records kept, one per address this node has called."""
    transport: TransportSettings = field(default_factory=TransportSettings)
    secure: bool = False
    """CurveZMQ on every socket, and every RPC checked against the key its connection proved. All
    nodes of a swarm must agree; secured nodes listen on ``tcp://`` (or ``ipc://``)."""

    def __post_init__(self) -> None:
        if not 1 <= self.k <= MAX_CONTACTS:
            raise ConfigError("dht.k", f"must be in 1..{MAX_CONTACTS}, got {self.k}")
        if self.alpha < 1:
            raise ConfigError("dht.alpha", f"must be at least 1, got {self.alpha}")
        if self.rpc_retries < 0:
            raise ConfigError("dht.rpc_retries", f"must be at least 0, got {self.rpc_retries}")
        if not 0 < self.min_timeout_s <= self.max_timeout_s:
            raise ConfigError("dht.min_timeout_s", "must be positive and at most dht.max_timeout_s")
        for name in ("initial_timeout_s", "maintenance_tick_s", "bootstrap_timeout_s", "record_ttl_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"dht.{name}", f"must be positive, got {getattr(self, name)}")


@dataclass
class NodeStats:
    """Counters of one node since it started."""

    rpcs_sent: dict[str, int] = field(default_factory=dict)
    rpcs_served: int = 0
    rpc_failures: int = 0
    bad_frames: int = 0
    unmatched_replies: int = 0
    impostors: int = 0
    """Secured frames whose claimed key was not the key their connection proved."""
    handler_failures: int = 0
    """Application handlers that raised something other than a DHTError (a bug, answered "internal")."""
    stores_refused: int = 0
    lookups: int = 0
    rate_limited: int = 0
    """Requests dropped because their sender was over its rate."""
    busy_refused: int = 0
    """Application requests refused because their sender, or the node, had too many in service."""
    maintenance_rounds: int = 0
    republished: int = 0
    """Own records re-announced by maintenance."""
    max_round_delay_s: float = 0.0
    """Longest a maintenance round started after its tick was due (the event loop was busy)."""
    lookups_shared: int = 0
    """Stores that used a lookup another store to the same key had just made."""
    max_republish_delay_s: float = 0.0
    """Longest a record's re-announcement came after it was due (by :attr:`DHTNode.clock`)."""

    def sent(self, category: str) -> None:
        self.rpcs_sent[category] = self.rpcs_sent.get(category, 0) + 1


@dataclass(frozen=True)
class PutResult:
    key: bytes
    stored: int
    """How many nodes (this one included, if it is among the closest) accepted the record."""
    lookup: LookupResult
    refused: tuple[str, ...] = ()
    """Why the nodes that answered but would not keep the record refused it (a full store, too many
    records under the key): a put with ``stored == 0`` and refusals lost the record to a cap."""
    sent: int = 0
    """STORE requests sent (to other nodes)."""


@dataclass(frozen=True)
class GetResult:
    key: bytes
    records: tuple[Record, ...]
    lookup: LookupResult | None
    """None when this node held the records itself."""

    @property
    def values(self) -> list[bytes]:
        return [r.value for r in self.records]


@dataclass
class _Published:
    record: Record
    announced_at: float
    replicas: int = 0
    confirm: int | None = None


class DHTNode:
    """One Kademlia node. Use :meth:`create`."""

    def __init__(
        self,
        identity: Identity,
        transport: ZmqTransport,
        address: str,
        settings: DHTSettings,
        ctx: zmq.asyncio.Context,
        owns_context: bool,
        state_dir: Path | None,
    ) -> None:
        self.identity = identity
        self.node_id = identity.id
        self.address = address
        self.settings = settings
        self.clock: Callable[[], float] = time.monotonic
        """The time maintenance is scheduled by (see :meth:`set_clock`)."""
        self.table = RoutingTable(self.node_id, settings.k, clock=self.clock)
        self.store = RecordStore(settings.store_limits)
        self.stats = NodeStats()
        self._transport = transport
        self._ctx = ctx
        self._owns_context = owns_context
        self._state_dir = state_dir
        self._pending: dict[bytes, asyncio.Future[Envelope]] = {}
        self._health: dict[str, PeerHealth] = {}
        self._published: dict[tuple[bytes, bytes], _Published] = {}
        self._replicated_at: dict[bytes, float] = {}
        self._hot: dict[
            tuple[bytes, int, int | None], tuple[float, LookupResult | asyncio.Future[LookupResult]]
        ] = {}
        self._oldest_replication = float("-inf")
        """No held key was replicated before this (a lower bound; -inf: not known yet, so scan)."""
        self._apps: dict[str, AppHandler] = {}
        self._evicting: set[bytes] = set()
        self._tasks = TaskSet(f"dht-{self.node_id.hex()[:8]}")
        lim = settings.limits
        self._rates = RateLimiter(lim.requests_per_s, lim.burst, lim.max_peers_tracked)
        self._slots = SlotLimiter(lim.max_app_requests, lim.max_app_requests_per_peer)
        self._closed = False
        self._saved_at = self.clock()
        self._zap: ZapHandler | None = None
        self._journal: StateJournal | None = None
        self._curve_of: dict[bytes, bytes | None] = {}

    # --- life cycle -------------------------------------------------------------------------------

    @classmethod
    async def create(
        cls,
        *,
        listen: str = "tcp://127.0.0.1:*",
        advertise: str | None = None,
        bootstrap: Sequence[str] = (),
        identity: Identity | None = None,
        state_dir: Path | None = None,
        settings: DHTSettings | None = None,
        context: zmq.asyncio.Context | None = None,
        host: TransportHost | None = None,
    ) -> DHTNode:
        """Bind, start serving, restore saved state from ``state_dir`` and join through ``bootstrap``.

        With a ``state_dir`` the node keeps its identity, records and contacts across restarts, and
        rejoins through its saved contacts when no bootstrap address is given. With a ``host`` the
        node binds nothing: it sends and receives through that shared host's sockets (``listen`` and
        ``context`` are the host's business then; see :mod:`synthswarm.swarm.dht.transport`).
        """
        s = settings or DHTSettings()
        ctx = context or (host.context if host is not None else new_context())
        owns_context = context is None and host is None
        ident = identity or _load_or_create_identity(state_dir)
        curve = CurveKeys.of(ident) if s.secure else None
        zap = ZapHandler.try_bind(ctx) if curve is not None else None
        try:
            transport = _open_transport(ctx, listen, s.transport, curve, host)
        except OSError as exc:
            if zap is not None:
                zap.close()
            if owns_context:
                ctx.term()
            if curve is not None:
                raise ConfigError("dht.secure", str(exc)) from exc
            raise
        address = transport.address if host is not None else advertised_address(transport.address, advertise)
        if curve is not None:
            address = secured_address(split_address(address)[0], curve.public)
        node = cls(ident, transport, address, s, ctx, owns_context, state_dir)
        if zap is not None:
            # The first secured node of a context answers ZAP for all of them, while it lives.
            node._zap = zap
            node._tasks.spawn(zap.serve(), name="zap")
        node._tasks.spawn(transport.serve(node._on_request, node._on_reply), name="serve")
        node._tasks.spawn(node._maintain(), name="maintain")
        saved_contacts = []
        if state_dir is not None:
            saved_contacts = node._restore()
            node._journal = StateJournal(state_dir / _JOURNAL)
            node._save()  # the replayed journal goes into a fresh snapshot
        try:
            if bootstrap:
                await node.bootstrap(bootstrap)
            elif saved_contacts:
                await node._rejoin([c.address for c in saved_contacts])
        except BaseException:
            await node.close(handoff=False)
            raise
        return node

    async def _rejoin(self, addresses: list[str]) -> None:
        """After a restart with no bootstrap given: rejoin through saved contacts, or run alone."""
        try:
            await self.bootstrap(addresses)
        except BootstrapError:
            log.warning("none of %d saved contacts answered; running alone until contacted", len(addresses))

    async def __aenter__(self) -> DHTNode:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def contact(self) -> Contact:
        return Contact(self.node_id, self.address)

    @property
    def published_records(self) -> int:
        """Records this node published and re-announces while it lives."""
        return len(self._published)

    @property
    def closed(self) -> bool:
        """Closed or killed: it answers nothing any more."""
        return self._closed

    async def close(self, *, handoff: bool = True) -> None:
        """Leave the swarm: hand held records to the nodes now closest to them, save state, stop."""
        if self._closed:
            return
        if handoff:
            await self._hand_off_records()
        self._save()
        await self.kill()

    async def kill(self) -> None:
        """Stop at once, as a crash would: no hand-off, no goodbye, nothing saved (for fault tests).
        Peers learn of it only when their requests go unanswered."""
        self._closed = True
        await self._tasks.close()
        for future in self._pending.values():
            future.cancel()
        self._transport.close()
        if self._zap is not None:
            self._zap.close()
        if self._journal is not None:
            self._journal.close()
        if self._owns_context:
            self._ctx.term()

    # --- public operations ------------------------------------------------------------------------

    async def bootstrap(self, addresses: Iterable[str]) -> int:
        """Join through any of ``addresses``; returns how many answered. Raises :class:`BootstrapError`."""
        targets = [a for a in dict.fromkeys(addresses) if a != self.address]
        if not targets:
            raise BootstrapError("no bootstrap address other than this node's own")
        pings = [asyncio.ensure_future(self._ping_address(a)) for a in targets]
        done, pending = await asyncio.wait(pings, timeout=self.settings.bootstrap_timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        answered = [t.result() for t in done if not t.cancelled() and t.exception() is None]
        if not answered:
            hint = ""
            if self._transport.curve is None and any(split_address(a)[1] for a in targets):
                hint = " (secured addresses: join them with DHTSettings(secure=True) or --secure)"
            elif self._transport.curve is None:
                hint = " (a secured swarm answers only at the address it prints, ending in #<curve key>)"
            raise BootstrapError(
                f"none of the {len(targets)} bootstrap address(es) answered: {', '.join(targets[:5])}{hint}"
            )
        await self.lookup(self.node_id)
        await self._refresh_far_buckets()
        return len(answered)

    async def lookup(
        self, target: bytes, *, category: str = "lookup", count: int | None = None, confirm: int | None = None
    ) -> LookupResult:
        """The ``count`` (default k) live nodes closest to ``target``. ``category`` labels its RPCs
        in :attr:`stats`. A smaller ``count`` ends sooner: fewer of the closest must answer.
        ``confirm``: stop once that many of the closest have answered (see :mod:`synthswarm.swarm.dht.lookup`;
        the rest of the result may not have been asked)."""
        self.stats.lookups += 1

        async def ask(contact: Contact, count: int) -> QueryAnswer:
            reply = await self.call(contact, FindNode(target, count), category=category)
            if not isinstance(reply, FoundNodes):
                raise ProtocolError(f"expected FOUND_NODES, got {type(reply).__name__}")
            return QueryAnswer(reply.contacts)

        k = min(count or self.settings.k, self.settings.k)
        return await iterative_lookup(
            target,
            self.table.closest(target),
            ask,
            own_id=self.node_id,
            k=k,
            alpha=self.settings.alpha,
            confirm=confirm,
            trust_neighbours=2 * k <= self.settings.k,  # buckets of this swarm's k hold twice the count
        )

    async def put(
        self,
        key: bytes,
        value: bytes,
        *,
        subkey: bytes = b"",
        ttl_s: int | None = None,
        republish: bool = True,
        replicas: int | None = None,
        confirm: int | None = None,
        full_first: bool = False,
    ) -> PutResult:
        """Store ``value`` under ``key`` on the k closest nodes (``replicas`` closest, if fewer);
        re-announce it while this node lives. ``confirm``: end the lookup once that many of the
        closest have answered, and let the STOREs' answers confirm the rest (fewer requests; a dead
        holder it picked shows as ``stored`` below ``replicas``). ``full_first``: STORE on the
        nearest holder first, and when it refuses for having too many records under the key
        (:data:`~synthswarm.swarm.dht.storage.KEY_FULL`: the others, holding the same records, would too),
        send no more: a caller that moves on to another key then pays one STORE, not one a holder,
        and the record is not re-announced there."""
        record = Record(subkey, value, ttl_s or self.settings.record_ttl_s)
        r = self._replicas(replicas)
        if republish:
            self._published[(key, subkey)] = _Published(record, self.clock(), r, confirm)
        result = await self._store_on_closest(
            key, record, category="store", replicas=r, confirm=confirm, full_first=full_first
        )
        if full_first and result.refused == (KEY_FULL,) and not result.stored:
            self._published.pop((key, subkey), None)
        return result

    def _replicas(self, replicas: int | None) -> int:
        """0 for the swarm's k (what STORE says for it), else how many nodes should hold a key."""
        if replicas is None or replicas >= self.settings.k:
            return 0
        if replicas < 1:
            raise ConfigError("replicas", f"must be at least 1, got {replicas}")
        return replicas

    async def get(self, key: bytes) -> GetResult:
        """Every live record under ``key``: from this node if it holds them, else by lookup."""
        local = self.store.get(key)
        if local:
            return GetResult(key, tuple(local), None)
        self.stats.lookups += 1

        async def ask(contact: Contact, count: int) -> QueryAnswer:
            reply = await self.call(contact, FindValue(key, count), category="lookup")
            if not isinstance(reply, FoundValue):
                raise ProtocolError(f"expected FOUND_VALUE, got {type(reply).__name__}")
            return QueryAnswer(reply.contacts, reply.records)

        result = await iterative_lookup(
            key, self.table.closest(key), ask, own_id=self.node_id, k=self.settings.k,
            alpha=self.settings.alpha, want_value=True,
        )  # fmt: skip
        return GetResult(key, result.records, result)

    async def republish(self) -> int:
        """Re-announce every record this node published, now (maintenance does it every
        ``republish_interval_s``): after churn, the records reach the nodes now closest to them."""
        now = self.clock()
        for (key, _), published in list(self._published.items()):
            await self._announce(key, published, now)
        return len(self._published)

    async def _announce(self, key: bytes, published: _Published, now: float) -> None:
        published.announced_at = now
        await self._store_on_closest(
            key, published.record, category="republish", replicas=published.replicas,
            confirm=published.confirm,
        )  # fmt: skip

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Schedule maintenance (re-announcing, replication, bucket refresh) by ``clock`` rather than
        ``time.monotonic``: a benchmark runs an hour of upkeep at the default periods in minutes by
        advancing a clock and calling :meth:`maintenance_round`. Record expiry stays on wall time."""
        self.clock = clock
        self.table.clock = clock

    def set_link_down(self, down: Callable[[str], bool] | None) -> None:
        """Fault injection for tests and benchmarks: requests to addresses ``down`` answers True for
        fail as if the network between were cut (a partition). None restores every link."""
        self._transport.link_down = down

    def register_app(self, topic: str, handler: AppHandler) -> None:
        """Serve :class:`AppRequest` messages of ``topic`` (a protocol layered on the DHT)."""
        self._apps[topic] = handler

    def app_topics(self) -> frozenset[str]:
        return frozenset(self._apps)

    def app_handler(self, topic: str) -> AppHandler | None:
        """The handler serving ``topic``, so a layer above can find the per-node state it installed."""
        return self._apps.get(topic)

    async def app_request(
        self, contact: Contact, topic: str, payload: bytes, *, category: str = "app"
    ) -> bytes:
        reply = await self.call(contact, AppRequest(topic, payload, traceparent()), category=category)
        if isinstance(reply, ErrorReply) and reply.code == "busy":
            raise PeerBusyError(f"{contact.short()} is busy: {reply.message}")
        if isinstance(reply, ErrorReply):
            raise DHTError(f"{contact.short()} refused {topic}: {reply.code}: {reply.message}")
        if not isinstance(reply, AppReply):
            raise ProtocolError(f"expected APP_REPLY, got {type(reply).__name__}")
        return reply.payload

    async def ping(self, contact: Contact) -> float:
        """Round-trip time to ``contact`` in seconds."""
        started = time.perf_counter()
        await self.call(contact, Ping(), category="ping")
        return time.perf_counter() - started

    def is_among_closest(self, key: bytes, closest: Sequence[Contact], count: int | None = None) -> bool:
        """Whether this node is nearer ``key`` than the ``count``-th (default k-th) of ``closest``,
        the nearest first (so it should hold ``key``)."""
        n = count or self.settings.k
        if len(closest) < n:
            return True
        return distance(self.node_id, key) < distance(closest[n - 1].node_id, key)

    # --- RPC client -------------------------------------------------------------------------------

    async def call(self, contact: Contact, message: Message, *, category: str = "other") -> Message:
        """Send one request and wait for its reply, with retries; raises :class:`RPCTimeoutError`."""
        reply = await self._call_address(contact.address, message, category, expect_id=contact.node_id)
        return reply.message

    async def _ping_address(self, address: str) -> Contact:
        reply = await self._call_address(address, Ping(), "bootstrap", expect_id=None)
        return reply.sender

    async def _call_address(
        self, address: str, message: Message, category: str, *, expect_id: bytes | None
    ) -> Envelope:
        if self._closed:
            raise DHTError("node is closed")
        health = self._health_of(address)
        if health.backed_off():
            raise RPCTimeoutError(f"{address} is backed off after {health.failures} failure(s)")
        loop = asyncio.get_running_loop()
        for _ in range(1 + self.settings.rpc_retries):
            rpc_id = os.urandom(RPC_ID_BYTES)
            future: asyncio.Future[Envelope] = loop.create_future()
            self._pending[rpc_id] = future
            frame = encode_frame(Envelope(rpc_id, self.identity.public_key, self.address, message))
            started = loop.time()
            try:
                self.stats.sent(category)
                await self._transport.send_request(address, frame)
                reply = await asyncio.wait_for(future, health.rtt.timeout())
            except SendError:
                break  # unroutable: a retry would fail the same way
            except TimeoutError:
                continue
            finally:
                self._pending.pop(rpc_id, None)
            if expect_id is not None and reply.sender.node_id != expect_id:
                break  # another node now answers at that address: the contact we knew is gone
            if self._transport.curve is not None and not self._proves(
                reply.sender_key, split_address(address)[1]
            ):
                self.stats.impostors += 1
                break  # answered by a key other than the one the handshake pinned
            health.succeeded(loop.time() - started)
            self._saw(reply.sender)
            return reply
        self.stats.rpc_failures += 1
        health.failed()
        self._lost(address, expect_id)
        raise RPCTimeoutError(f"{type(message).__name__} to {address} got no answer")

    def _health_of(self, address: str) -> PeerHealth:
        health = self._health.get(address)
        if health is None:
            # Addresses come from peers' answers, so the map is bounded: the oldest entry goes.
            if len(self._health) >= self.settings.max_peer_health:
                del self._health[next(iter(self._health))]
            health = self._health[address] = PeerHealth(self._new_rtt())
        return health

    def _new_rtt(self) -> RttEstimator:
        s = self.settings
        return RttEstimator(s.initial_timeout_s, s.min_timeout_s, s.max_timeout_s)

    def _lost(self, address: str, node_id: bytes | None) -> None:
        if node_id is not None:
            self.table.remove(node_id)
        self._transport.forget(address)

    # --- RPC server -------------------------------------------------------------------------------

    def _proves(self, sender_key: bytes, curve_key: bytes | None) -> bool:
        """Whether the Ed25519 ``sender_key`` is the key behind the Curve key a connection proved."""
        if curve_key is None:
            return False
        derived = self._curve_of.get(sender_key)
        if derived is None:
            if len(self._curve_of) >= 4096:
                self._curve_of.clear()
            derived = self._curve_of[sender_key] = curve_public_of(sender_key)
        return derived == curve_key

    def _on_reply(self, _: bytes | None, frame: bytes, __: bytes | None) -> None:
        try:
            envelope = decode_frame(frame)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            log.debug("bad reply frame: %s", exc)
            return
        future = self._pending.get(envelope.rpc_id)
        if future is None or future.done() or envelope.message.is_request:
            self.stats.unmatched_replies += 1
            return
        future.set_result(envelope)

    def _on_request(self, routing_id: bytes | None, frame: bytes, peer_key: bytes | None) -> None:
        try:
            envelope = decode_frame(frame)
        except ProtocolError as exc:
            self.stats.bad_frames += 1
            log.debug("bad request frame: %s", exc)
            return
        if not envelope.message.is_request or routing_id is None:
            self.stats.bad_frames += 1
            return
        if self._transport.curve is not None and not (
            self._proves(envelope.sender_key, peer_key)
            and split_address(envelope.sender_address)[1] == peer_key
        ):
            self.stats.impostors += 1  # claims a key (or advertises one) its connection did not prove
            return
        if not self._rates.allow(envelope.sender_key):
            self.stats.rate_limited += 1
            return  # unanswered: the cheapest response to a flood
        self.stats.rpcs_served += 1
        if envelope.sender.node_id != self.node_id:
            self._saw(envelope.sender)
            # A peer that timed out under load and was backed off is plainly alive again: without
            # this, our replies to what it just asked would fail fast until the back-off ran out.
            health = self._health.get(envelope.sender.address)
            if health is not None:
                health.heard_from()
        message = envelope.message
        if isinstance(message, AppRequest):
            # Application handlers may do RPCs of their own: run them beside the read loop, in a
            # bounded number of slots so a flood cannot pile up tasks.
            if not self._slots.acquire(envelope.sender_key):
                self.stats.busy_refused += 1
                self._reply(routing_id, envelope, ErrorReply("busy", "too many requests in service"))
                return
            self._tasks.spawn(self._serve_app(routing_id, envelope, message), name="app")
            return
        self._reply(routing_id, envelope, self._answer(envelope.sender, message))

    def _answer(self, sender: Contact, message: Message) -> Message:
        if isinstance(message, Ping):
            return Pong()
        if isinstance(message, FindNode):
            return FoundNodes(
                tuple(self.table.closest(message.target, message.count, exclude=sender.node_id))
            )
        if isinstance(message, Store):
            return self._stored(message)
        if isinstance(message, StoreMany):
            return StoredMany(tuple(self._stored(item) for item in message.items))
        if isinstance(message, FindValue):
            records = _fit(self.store.get(message.key))
            contacts = (
                ()
                if records
                else tuple(self.table.closest(message.key, message.count, exclude=sender.node_id))
            )
            return FoundValue(tuple(records), contacts)
        return ErrorReply("unsupported", f"{type(message).__name__} is not served here")

    def _stored(self, message: Store) -> Stored:
        ok, reason = self._keep(message.key, message.record, message.replicas)
        # Section 2.5: the other k-1 holders got the same STORE, so none of us need push this
        # record again for a full replicate interval.
        self._mark_replicated(message.key)
        if not ok:
            self.stats.stores_refused += 1
        return Stored(ok, reason)

    async def _serve_app(self, routing_id: bytes, envelope: Envelope, message: AppRequest) -> None:
        try:
            answer = await self._app_answer(envelope, message)
        finally:
            self._slots.release(envelope.sender_key)
        self._reply(routing_id, envelope, answer)

    async def _app_answer(self, envelope: Envelope, message: AppRequest) -> Message:
        handler = self._apps.get(message.topic)
        if handler is None:
            return ErrorReply("unknown-topic", message.topic)
        try:
            with remote_parent(message.trace):  # the sender's trace, if it sent a valid one
                return AppReply(await handler(envelope.sender, message.payload))
        except DHTError as exc:
            return ErrorReply("failed", str(exc)[:300])
        except Exception:  # a handler's bug must not cost the caller a timeout, nor the node its life
            log.exception("handler for %s failed", message.topic)
            self.stats.handler_failures += 1
            return ErrorReply("internal", "the handler failed")

    def _reply(self, routing_id: bytes, request: Envelope, message: Message) -> None:
        frame = encode_frame(Envelope(request.rpc_id, self.identity.public_key, self.address, message))
        try:
            self._transport.send_reply(routing_id, frame)
        except SendError as exc:
            log.debug("reply to %s lost: %s", request.sender.short(), exc)

    # --- routing table upkeep ---------------------------------------------------------------------

    def _keep(self, key: bytes, record: Record, replicas: int = 0) -> tuple[bool, str]:
        """Store ``record``, journalled before the caller acknowledges it."""
        ok, reason = self.store.put(key, record, replicas=replicas)
        if ok and self._journal is not None:
            self._journal.append(["r", key, record.subkey, record.value, time.time() + record.ttl_s])
        return ok, reason

    def _saw(self, contact: Contact) -> None:
        result = self.table.add(contact)
        if result.new and self._journal is not None:
            self._journal.append(["c", contact.node_id, contact.address])
        if result.new and len(self.store) and not self._closed:
            self._tasks.spawn(self._welcome(contact), name="welcome")
        lrs = result.ping
        if lrs is not None and lrs.node_id not in self._evicting and not self._closed:
            # Section 2.2: the bucket is full; keep its oldest contact if it still answers.
            self._evicting.add(lrs.node_id)
            self._tasks.spawn(self._check_eviction(lrs), name="evict")

    async def _check_eviction(self, contact: Contact) -> None:
        try:
            await self.call(contact, Ping(), category="evict")
        except DHTError:
            pass  # _call_address removed it; the cached newcomer took its slot
        finally:
            self._evicting.discard(contact.node_id)

    # --- records ----------------------------------------------------------------------------------

    async def _store_on_closest(
        self, key: bytes, record: Record, *, category: str, replicas: int = 0, confirm: int | None = None,
        full_first: bool = False,
    ) -> PutResult:  # fmt: skip
        """STORE on the ``replicas`` (0: k) live nodes closest to ``key``, this one included if it
        is among them (``full_first``: see :meth:`put`). Refusals are returned, never dropped."""
        found, holders, mine = await self._holders(key, replicas, category, confirm)
        stored, refused, sent = 0, list[str](), 0
        if mine:
            ok, reason = self._keep(key, record, replicas)
            stored, refused = int(ok), ([] if ok else [reason])
        elif full_first and holders:
            sent += 1
            stored, refused = await self._store_replies([holders.pop(0)], key, record, replicas, category)
        if full_first and refused == [KEY_FULL]:
            return PutResult(key, 0, found, (KEY_FULL,), sent)
        more_stored, more_refused = await self._store_replies(holders, key, record, replicas, category)
        self._mark_replicated(key)
        return PutResult(key, stored + more_stored, found, tuple(refused + more_refused), sent + len(holders))

    async def _store_replies(
        self, holders: list[Contact], key: bytes, record: Record, replicas: int, category: str
    ) -> tuple[int, list[str]]:
        """STORE on every one of ``holders`` at once: (how many kept it, why the others refused)."""
        stores = [self.call(c, Store(key, record, replicas), category=category) for c in holders]
        replies = await asyncio.gather(*stores, return_exceptions=True)
        stored = sum(1 for r in replies if isinstance(r, Stored) and r.ok)
        return stored, [r.reason for r in replies if isinstance(r, Stored) and not r.ok]

    async def _holders(
        self, key: bytes, replicas: int, category: str, confirm: int | None = None
    ) -> tuple[LookupResult, list[Contact], bool]:
        """The ``replicas`` (0: k) live nodes closest to ``key`` after a lookup: (the lookup, the
        others among them, whether this node is one of them)."""
        n = replicas or self.settings.k
        if category == "store":  # replication and re-announcing look afresh: churn is their business
            found = await self._hot_lookup(key, category, n, confirm)
        else:
            found = await self.lookup(key, category=category, count=n, confirm=confirm)
        mine = self.is_among_closest(key, found.contacts, n)
        return found, list(found.contacts[: n - 1 if mine else n]), mine

    async def _hot_lookup(self, key: bytes, category: str, n: int, confirm: int | None) -> LookupResult:
        """A lookup for a put, shared by the puts to the same key made meanwhile or within
        ``holders_cache_s`` (an agent's interest rows that fall in one bucket, a burst of puts): the
        closest contacts of a hot key are looked up once. A failed or empty lookup is not kept."""
        slot = (key, n, confirm)
        now = self.clock()
        cached = self._hot.get(slot)
        if cached is not None:
            expires, held = cached
            if isinstance(held, asyncio.Future):
                self.stats.lookups_shared += 1
                return await asyncio.shield(held)
            if now < expires:
                self.stats.lookups_shared += 1
                return held
        pending: asyncio.Future[LookupResult] = asyncio.get_running_loop().create_future()
        self._hot[slot] = (now + self.settings.holders_cache_s, pending)
        while len(self._hot) > _HOT_KEYS:
            self._hot.pop(next(iter(self._hot)))
        try:
            found = await self.lookup(key, category=category, count=n, confirm=confirm)
        except BaseException as exc:
            self._hot.pop(slot, None)
            pending.set_exception(exc)
            pending.exception()  # retrieved: waiters, if any, get it too
            raise
        pending.set_result(found)
        if self.settings.holders_cache_s > 0 and found.contacts:  # an empty answer: none answered
            self._hot[slot] = (now + self.settings.holders_cache_s, found)
        else:
            self._hot.pop(slot, None)
        return found

    def _mark_replicated(self, key: bytes) -> None:
        now = self.clock()
        self._replicated_at[key] = now
        self._oldest_replication = min(self._oldest_replication, now)

    async def _welcome(self, contact: Contact) -> None:
        """Section 2.5: a node that learns of a new node stores on it the records it should now hold.
        Of the holders, only the one closest to a key sends it, so each record goes over once."""
        items, held = [], self.store.keys()
        for key in held:  # a key's neighbourhood once, not once per record; its records only if sent
            replicas = self.store.replicas_of(key)
            closest = self.table.closest(key, replicas or self.settings.k)
            if all(c.node_id != contact.node_id for c in closest):
                continue
            others = [c for c in closest if c.node_id != contact.node_id]
            if not others or distance(self.node_id, key) < distance(others[0].node_id, key):
                items += [Store(key, record, replicas) for record in self.store.get(key)]
        await self._store_batches({contact: items}, category="welcome")

    async def _hand_off_records(self) -> None:
        batches: dict[Contact, list[Store]] = {}
        for key, records in self.store.by_key():
            replicas = self.store.replicas_of(key)
            for contact in self.table.closest(key, replicas or self.settings.k):
                batches.setdefault(contact, []).extend(Store(key, record, replicas) for record in records)
        await self._store_batches(batches, category="handoff")

    async def _store_batches(self, batches: dict[Contact, list[Store]], *, category: str) -> int:
        """Send each contact its STOREs, as few STORE_MANY requests as fit in frames (a lone one as
        a plain STORE), 64 requests at a time. Returns how many records were kept; a holder that
        fails or refuses costs only its own."""
        requests: list[tuple[Contact, Message]] = []
        for contact, items in batches.items():
            for chunk in _frame_chunks(items):
                requests.append((contact, chunk[0] if len(chunk) == 1 else StoreMany(tuple(chunk))))
        kept = 0
        for start in range(0, len(requests), 64):
            replies = await asyncio.gather(
                *(self.call(c, m, category=category) for c, m in requests[start : start + 64]),
                return_exceptions=True,
            )
            for reply in replies:
                if isinstance(reply, Stored):
                    kept += reply.ok
                elif isinstance(reply, StoredMany):
                    kept += sum(r.ok for r in reply.results)
        return kept

    # --- maintenance (soft state, section 2.5; bucket refresh, section 2.3) -------------------------

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.settings.maintenance_tick_s
            await asyncio.sleep(self.settings.maintenance_tick_s)
            # A loop too busy to wake on time delays every round: measured, so a benchmark can
            # tell whether the schedule it relies on was kept.
            self.stats.max_round_delay_s = max(self.stats.max_round_delay_s, loop.time() - due)
            try:
                await self.maintenance_round()
            except DHTError as exc:
                log.debug("maintenance round: %s", exc)

    async def maintenance_round(self) -> None:
        """One round of upkeep, as the maintenance loop runs every ``maintenance_tick_s``: expire,
        re-announce own records due, replicate held keys due, refresh stale buckets, save."""
        now = self.clock()
        s = self.settings
        self.stats.maintenance_rounds += 1
        self.store.expire()
        for (key, _), published in list(self._published.items()):
            if now - published.announced_at >= s.republish_interval_s:
                late = now - published.announced_at - s.republish_interval_s
                self.stats.max_republish_delay_s = max(self.stats.max_republish_delay_s, late)
                self.stats.republished += 1
                await self._announce(key, published, now)
        await self.replicate(older_than_s=s.replicate_interval_s)
        await self.refresh(older_than_s=s.refresh_interval_s)
        if self._state_dir is not None and now - self._saved_at >= s.save_interval_s:
            # Saved now and then, not only on close, so a crash loses at most one interval.
            self._saved_at = now
            self._save()

    async def replicate(self, *, older_than_s: float) -> int:
        """Push held records not replicated for ``older_than_s`` to the k nodes now closest to them
        (section 2.5: new nodes near a key learn of it). Returns how many records were pushed. Each
        due key costs one lookup, and all of its records go; a tick with no key due scans nothing."""
        now = self.clock()
        if now - self._oldest_replication < older_than_s:
            return 0
        held = list(self.store.keys())
        self._replicated_at = {k: self._replicated_at[k] for k in held if k in self._replicated_at}
        pushed = 0
        for key in held:
            # A record that arrived by STORE counts as just replicated (Kademlia's optimisation in
            # section 2.5): otherwise all k holders would push every new record at the next tick.
            if now - self._replicated_at.setdefault(key, now) < older_than_s:
                continue
            # Its own records under the key are republished (:meth:`republish`); the others' are
            # pushed here, even where this node published one of its own under the same key.
            others = [r for r in self.store.get(key) if (key, r.subkey) not in self._published]
            if others:
                pushed += await self._store_all_on_closest(key, others)
            else:
                self._mark_replicated(key)
        self._oldest_replication = min(self._replicated_at.values(), default=float("inf"))
        return pushed

    async def _store_all_on_closest(self, key: bytes, records: list[Record]) -> int:
        """Store every one of ``records`` under ``key`` on the nodes closest to it (as many as the key's
        publisher asked for), after one lookup."""
        replicas = self.store.replicas_of(key)
        _, holders, mine = await self._holders(key, replicas, "replicate")
        items = [Store(key, r, replicas) for r in records]
        await self._store_batches({c: items for c in holders}, category="replicate")
        if mine:
            for record in records:
                self._keep(key, record, replicas)
        self._mark_replicated(key)
        return len(records)

    async def refresh(self, *, older_than_s: float) -> int:
        """Look up a random id in every bucket untouched for ``older_than_s`` (section 2.3)."""
        stale = self.table.stale_buckets(older_than_s)
        await self._refresh_buckets(stale)
        return len(stale)

    async def _refresh_far_buckets(self) -> None:
        """After joining, look up a random id in every bucket farther than the nearest neighbour.

        These lookups stop once ``alpha`` of the closest have answered (``confirm``): that puts
        contacts in every bucket and tells nodes all over the id space of the newcomer, which is
        what a join needs; the buckets fill the rest of the way from traffic and the periodic
        refreshes, which are full lookups. A full lookup per bucket was most of a join's requests."""
        nearest = self.table.closest(self.node_id, 1)
        if nearest:
            first = distance(self.node_id, nearest[0].node_id).bit_length()
            await self._refresh_buckets(range(first, ID_BYTES * 8), confirm=self.settings.alpha)

    async def _refresh_buckets(self, indices: Iterable[int], *, confirm: int | None = None) -> None:
        targets = []
        for index in indices:
            self.table.buckets[index].touch(self.clock())
            targets.append(random_id_in_bucket(self.node_id, index))
        lookups = (self.lookup(t, category="refresh", confirm=confirm) for t in targets)
        await asyncio.gather(*lookups, return_exceptions=True)

    # --- persistence ------------------------------------------------------------------------------

    def _restore(self) -> list[Contact]:
        assert self._state_dir is not None
        records = self._state_dir / "records.msgpack"
        if records.is_file():
            try:
                self.store.load(records.read_bytes())
            except (DHTError, ValueError, TypeError) as exc:
                log.warning("ignoring unreadable %s: %s", records, exc)
        contacts: list[Contact] = []
        table = self._state_dir / "contacts.json"
        if table.is_file():
            try:
                for node_hex, address in json.loads(table.read_text(encoding="utf-8")):
                    contacts.append(Contact(bytes.fromhex(node_hex), str(address)))
            except (ValueError, TypeError) as exc:
                log.warning("ignoring unreadable %s: %s", table, exc)
        contacts.extend(self._replay_journal())
        for contact in contacts:
            self.table.add(contact)
        return contacts

    def _replay_journal(self) -> list[Contact]:
        """Records and contacts accepted after the last snapshot (the process may have been killed)."""
        assert self._state_dir is not None
        contacts, now = [], time.time()
        for entry in StateJournal.read(self._state_dir / _JOURNAL):
            try:
                if entry[0] == "r" and len(entry) == 5:
                    _, key, subkey, value, expires_at = entry
                    if float(expires_at) > now:
                        self.store.put(
                            bytes(key), Record(bytes(subkey), bytes(value), int(expires_at - now) + 1)
                        )
                elif entry[0] == "c" and len(entry) == 3:
                    contacts.append(Contact(bytes(entry[1]), str(entry[2])))
            except (ValueError, TypeError, IndexError) as exc:
                log.warning("skipping a journal entry: %s", exc)
        return contacts

    def _save(self) -> None:
        if self._state_dir is None:
            return
        self._state_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self._state_dir / "records.msgpack", self.store.dump())
        contacts = [[c.node_id.hex(), c.address] for c in self.table]
        _atomic_write(self._state_dir / "contacts.json", json.dumps(contacts).encode())
        if self._journal is not None:
            self._journal.reset()

    def transport_stats(self) -> TransportStats:
        """Frames and bytes through this node's sockets."""
        return self._transport.stats

    def save(self) -> None:
        """Write records and contacts to the state directory now (they are also saved on close)."""
        self._save()


#: A lookup a store made (or is making) of a key's closest nodes.
_Held = LookupResult | asyncio.Future[LookupResult]

_JOURNAL = "journal.bin"
_HOT_KEYS = 1024
"""Keys whose closest contacts a node keeps for further stores (see ``holders_cache_s``)."""


def _fit(records: list[Record]) -> list[Record]:
    """As many records as fit one reply frame."""
    budget, out = MAX_FRAME_BYTES - 2048 - MAX_CONTACTS * 240, []
    for record in records:
        budget -= len(record.value) + len(record.subkey) + 16
        if budget < 0:
            break
        out.append(record)
    return out


def _open_transport(
    ctx: zmq.asyncio.Context,
    listen: str,
    settings: TransportSettings,
    curve: CurveKeys | None,
    host: TransportHost | None,
) -> ZmqTransport:
    """The node's own host bound at ``listen``, or a place on a shared ``host``."""
    if host is None:
        return ZmqTransport.open(ctx, listen, settings, curve)
    if curve is not None:
        raise OSError(0, "a shared transport host is unsecured: run secured nodes on their own")
    return host.attach()


_BATCH_BYTES = MAX_FRAME_BYTES - 4096
"""A STORE_MANY's records fill at most this much of a frame (the envelope and msgpack heads fit in
the rest)."""


def _frame_chunks(items: list[Store]) -> Iterator[list[Store]]:
    """``items`` in runs that each fit one frame (and at most MAX_RECORDS)."""
    chunk: list[Store] = []
    size = 0
    for item in items:
        cost = len(item.key) + len(item.record.subkey) + len(item.record.value) + 32
        if chunk and (size + cost > _BATCH_BYTES or len(chunk) == MAX_RECORDS):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        yield chunk


def _load_or_create_identity(state_dir: Path | None) -> Identity:
    if state_dir is None:
        return Identity.generate()
    path = state_dir / "node.key"
    if path.is_file():
        return Identity.load(path)
    identity = Identity.generate()
    identity.save(path)
    return identity


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def requests_by_category(nodes: Iterable[DHTNode]) -> Counter[str]:
    """Requests the ``nodes`` have sent so far, counted at the socket, by category. Killed nodes keep
    their counts."""
    total: Counter[str] = Counter()
    for node in nodes:
        total.update(node.stats.rpcs_sent)
    return total


def requests_sent(nodes: Iterable[DHTNode], categories: Collection[str] | None = None) -> int:
    """Requests the ``nodes`` have sent so far, of the given categories (None: all of them)."""
    sent = requests_by_category(nodes)
    return sum(v for c, v in sent.items() if categories is None or c in categories)


def bytes_sent(nodes: Iterable[DHTNode]) -> int:
    """Bytes the ``nodes`` have sent so far."""
    return sum(n.transport_stats().bytes_out for n in nodes)
