"""A Kademlia node over ZeroMQ: :class:`DHTNode` puts the parts together, and holds the operations
of the paper (join, lookup, put, get) and the maintenance schedule.

Create one with ``await DHTNode.create(...)`` and close it with ``await node.close()`` (or use it as an
async context manager). Every task a node starts is owned by it and cancelled on close. The parts,
each a private module of :mod:`synthswarm.swarm.dht._node`: settings, stats, the wire, the RPC client
and server, placing records, replication, persistence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import zmq.asyncio

from synthswarm.swarm.dht._node.client import RpcClient
from synthswarm.swarm.dht._node.joining import join, refresh_buckets
from synthswarm.swarm.dht._node.persistence import StateFiles, load_or_create_identity
from synthswarm.swarm.dht._node.replication import Replication
from synthswarm.swarm.dht._node.server import AppHandler, RpcServer
from synthswarm.swarm.dht._node.settings import DHTSettings
from synthswarm.swarm.dht._node.stats import NodeStats, bytes_sent, requests_by_category, requests_sent
from synthswarm.swarm.dht._node.storing import Placement, PutResult
from synthswarm.swarm.dht._node.welcoming import WELCOME_TOPIC, Welcomes
from synthswarm.swarm.dht._node.wire import Wire
from synthswarm.swarm.dht.curve import CurveKeys, ZapHandler, secured_address, split_address
from synthswarm.swarm.dht.ids import Contact, distance
from synthswarm.swarm.dht.lookup import LookupResult, QueryAnswer, iterative_lookup
from synthswarm.swarm.dht.messages import FindNode, FindValue, FoundNodes, FoundValue, Message, Ping, Record
from synthswarm.swarm.dht.ports import Host, Transport
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.dht.storage import KEY_FULL, RecordStore
from synthswarm.swarm.dht.transport import (
    TransportSettings,
    TransportStats,
    ZmqTransport,
    advertised_address,
    new_context,
)
from synthswarm.swarm.errors import BootstrapError, ConfigError, DHTError, ProtocolError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.tasks import TaskSet

__all__ = [
    "AppHandler",
    "DHTNode",
    "DHTSettings",
    "GetResult",
    "NodeStats",
    "PutResult",
    "bytes_sent",
    "requests_by_category",
    "requests_sent",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GetResult:
    key: bytes
    records: tuple[Record, ...]
    lookup: LookupResult | None
    """None when this node held the records itself."""

    @property
    def values(self) -> list[bytes]:
        return [r.value for r in self.records]


class DHTNode:
    """One Kademlia node. Use :meth:`create`."""

    def __init__(
        self,
        identity: Identity,
        transport: Transport,
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
        self._evicting: set[bytes] = set()
        self._tasks = TaskSet(f"dht-{self.node_id.hex()[:8]}")
        self._zap: ZapHandler | None = None
        self._files = StateFiles(state_dir, self.store, self.table, now=self.clock())
        self._placement = Placement(self, self._files)
        self._replication = Replication(self, self._placement)
        self._welcomes = Welcomes(self._replication, self._tasks)
        wire = Wire(identity, address, transport, self.stats)
        self._server = RpcServer(
            wire, settings, self._tasks, table=self.table, store=self.store, accept=self._placement.accept,
            heard=self._heard,
        )  # fmt: skip
        local = self._server.answer_local
        self._client = RpcClient(wire, settings, saw=self._saw, lost=self._lost, local=local)
        # The transport's two handlers (a fuzzer feeds them frames directly).
        self._on_request = self._server.on_request
        self._on_reply = self._client.on_reply
        self.register_app(WELCOME_TOPIC, self._welcomes.on_request)

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
        host: Host | None = None,
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
        ident = identity or load_or_create_identity(state_dir)
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
        saved_contacts = node._files.open()
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
        return self._replication.published

    @property
    def closed(self) -> bool:
        """Closed or killed: it answers nothing any more."""
        return self._client.closed

    async def close(self, *, handoff: bool = True) -> None:
        """Leave the swarm: hand held records to the nodes now closest to them, save state, stop."""
        if self.closed:
            return
        if handoff:
            await self._replication.hand_off()
        self._files.save()
        await self.kill()

    async def kill(self) -> None:
        """Stop at once, as a crash would: no hand-off, no goodbye, nothing saved (for fault tests).
        Peers learn of it only when their requests go unanswered."""
        self._client.closed = True
        await self._tasks.close()
        self._client.cancel_pending()
        self._transport.close()
        if self._zap is not None:
            self._zap.close()
        self._files.close()
        if self._owns_context:
            self._ctx.term()

    # --- public operations ------------------------------------------------------------------------

    async def bootstrap(self, addresses: Iterable[str]) -> int:
        """Join through any of ``addresses``; returns how many answered. Raises :class:`BootstrapError`.
        Until the nearest nodes found have welcomed it (:attr:`welcomed`), the node does not claim
        keys it holds nothing under."""
        self._welcomes.welcomed = False
        try:
            return await join(
                self, addresses, self._client.ping_address, self._welcomes, self._transport.curve
            )
        finally:
            self._welcomes.welcomed = True

    @property
    def welcomed(self) -> bool:
        """Whether this node may answer for a key from its own store alone: False while it is joining,
        until its nearest nodes have stored on it what it should hold
        (:mod:`synthswarm.swarm.dht._node.welcoming`)."""
        return self._welcomes.welcomed

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
        result = await iterative_lookup(
            target,
            self.table.closest(target),
            ask,
            own_id=self.node_id,
            k=k,
            alpha=self.settings.alpha,
            confirm=confirm,
            trust_neighbours=2 * k <= self.settings.k,  # buckets of this swarm's k hold twice the count
        )
        self.stats.lookup_requests += result.rpcs
        return result

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
            self._replication.publish(key, record, r, confirm)
        result = await self._placement.store_on_closest(
            key, record, category="store", replicas=r, confirm=confirm, full_first=full_first
        )
        if full_first and result.refused == (KEY_FULL,) and not result.stored:
            self._replication.unpublish(key, subkey)
        return result

    async def withdraw(
        self, key: bytes, *, subkey: bytes = b"", ttl_s: int | None = None, replicas: int | None = None
    ) -> PutResult:
        """Take back a record this node put under ``key``: stop re-announcing it, and overwrite it on
        the ``replicas`` (default k) nodes closest to ``key`` with an empty record, a tombstone that
        lives ``ttl_s`` (default the record TTL: as long as a stale copy could) and is not re-announced.
        Readers skip empty values; a holder that missed the tombstone keeps the old value only until
        its TTL ends."""
        self._replication.unpublish(key, subkey)
        record = Record(subkey, b"", ttl_s or self.settings.record_ttl_s)
        return await self._placement.store_on_closest(
            key, record, category="withdraw", replicas=self._replicas(replicas)
        )

    def _replicas(self, replicas: int | None) -> int:
        """0 for the swarm's k (what STORE says for it), else how many nodes should hold a key."""
        if replicas is None or replicas >= self.settings.k:
            return 0
        if replicas < 1:
            raise ConfigError("replicas", f"must be at least 1, got {replicas}")
        return replicas

    async def get(self, key: bytes) -> GetResult:
        """Every live record under ``key``: from this node if it holds them, else by lookup. Withdrawn
        records (tombstones, :meth:`withdraw`) are left out."""
        local = self.store.get(key)
        if local:
            return GetResult(key, tuple(r for r in local if r.value), None)
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
        return GetResult(key, tuple(r for r in result.records if r.value), result)

    async def republish(self) -> int:
        """Re-announce every record this node published, now (maintenance does it every
        ``republish_interval_s``): after churn, the records reach the nodes now closest to them."""
        return await self._replication.republish()

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
        self._server.register_app(topic, handler)

    def app_topics(self) -> frozenset[str]:
        return self._server.app_topics()

    def app_handler(self, topic: str) -> AppHandler | None:
        """The handler serving ``topic``, so a layer above can find the per-node state it installed."""
        return self._server.app_handler(topic)

    async def app_request(
        self, contact: Contact, topic: str, payload: bytes, *, category: str = "app"
    ) -> bytes:
        """The reply of ``contact``'s ``topic`` handler (this node's own, without the socket, when
        ``contact`` is this node)."""
        return await self._client.app_request(contact, topic, payload, category=category)

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

    async def call(self, contact: Contact, message: Message, *, category: str = "other") -> Message:
        """Send one request and wait for its reply, with retries; raises :class:`RPCTimeoutError`.
        A request to this node itself is answered by its own handlers, without the socket."""
        return await self._client.call(contact, message, category=category)

    def transport_stats(self) -> TransportStats:
        """Frames and bytes through this node's sockets."""
        return self._transport.stats

    def save(self) -> None:
        """Write records and contacts to the state directory now (they are also saved on close)."""
        self._files.save()

    # --- routing table upkeep (section 2.2) -------------------------------------------------------

    def _heard(self, contact: Contact) -> None:
        """A peer asked something: it is alive."""
        self._saw(contact)
        self._client.heard_from(contact.address)

    def _saw(self, contact: Contact) -> None:
        result = self.table.add(contact)
        if result.new:
            self._files.added(contact)
        if result.new and len(self.store) and not self.closed:
            self._welcomes.give(contact, again=True)
        lrs = result.ping
        if lrs is not None and lrs.node_id not in self._evicting and not self.closed:
            # Section 2.2: the bucket is full; keep its oldest contact if it still answers.
            self._evicting.add(lrs.node_id)
            self._tasks.spawn(self._check_eviction(lrs), name="evict")

    def _lost(self, address: str, node_id: bytes | None) -> None:
        if node_id is not None:
            self.table.remove(node_id)
        self._transport.forget(address)

    async def _check_eviction(self, contact: Contact) -> None:
        try:
            await self.call(contact, Ping(), category="evict")
        except DHTError:
            pass  # the failed call removed it; the cached newcomer took its slot
        finally:
            self._evicting.discard(contact.node_id)

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
        await self._replication.republish_due(now)
        await self.replicate(older_than_s=s.replicate_interval_s)
        await self.refresh(older_than_s=s.refresh_interval_s)
        self._files.save_if_due(now, s.save_interval_s)

    async def replicate(self, *, older_than_s: float) -> int:
        """Push held records not replicated for ``older_than_s`` to the k nodes now closest to them
        (section 2.5: new nodes near a key learn of it). Returns how many records were pushed. Each
        due key costs one lookup, and all of its records go; a tick with no key due scans nothing."""
        return await self._replication.replicate(older_than_s=older_than_s)

    async def refresh(self, *, older_than_s: float) -> int:
        """Look up a random id in every bucket untouched for ``older_than_s`` (section 2.3)."""
        stale = self.table.stale_buckets(older_than_s)
        await refresh_buckets(self, stale)
        return len(stale)


def _open_transport(
    ctx: zmq.asyncio.Context,
    listen: str,
    settings: TransportSettings,
    curve: CurveKeys | None,
    host: Host | None,
) -> Transport:
    """The node's own host bound at ``listen``, or a place on a shared ``host``."""
    if host is None:
        return ZmqTransport.open(ctx, listen, settings, curve)
    if curve is not None:
        raise OSError(0, "a shared transport host is unsecured: run secured nodes on their own")
    return host.attach()
