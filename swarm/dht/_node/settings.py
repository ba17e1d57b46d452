"""The protocol parameters of a node, :class:`DHTSettings`, checked when made."""

from __future__ import annotations

from dataclasses import dataclass, field

from synthswarm.swarm.dht.limits import PeerLimits
from synthswarm.swarm.dht.messages import MAX_CONTACTS
from synthswarm.swarm.dht.storage import StoreLimits
from synthswarm.swarm.dht.transport import TransportSettings
from synthswarm.swarm.errors import ConfigError

__all__ = ["DHTSettings"]


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
