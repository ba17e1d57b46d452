"""The record store: values under keys, with expiry (soft state, Kademlia section 2.5).

Each key holds records from many publishers, told apart by ``subkey``; a publisher re-announces
before expiry or its record lapses. Limits on keys, records per key and bytes keep a flood of STOREs
from exhausting memory: past them, new records are refused (and the refusal is answered).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from synthswarm.swarm._codec import decode, encode
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.errors import DHTError

__all__ = ["KEY_FULL", "LEAVING", "RecordStore", "StoreLimits", "StoredRecord"]

KEY_FULL = "too many records under this key"
LEAVING = "leaving the swarm"
"""The reason a node that is handing its records on refuses new ones: the sender should store them
on the next closest node instead."""
#: What :meth:`RecordStore.dump` writes: key, subkey, value, absolute expiry, a row per record.
_DUMP = msgspec.msgpack.Decoder(list[tuple[bytes, bytes, bytes, float]])
"""The reason a store refused a new record because its key holds ``max_records_per_key``."""


@dataclass(frozen=True)
class StoreLimits:
    max_keys: int = 100_000
    max_records_per_key: int = 1024
    max_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredRecord:
    subkey: bytes
    value: bytes
    expires_at: float  # wall-clock seconds, so expiry survives a restart

    def ttl_left(self, now: float) -> int:
        return max(1, int(self.expires_at - now))


class RecordStore:
    """Records by key, then by subkey."""

    def __init__(self, limits: StoreLimits | None = None) -> None:
        self.limits = limits or StoreLimits()
        self._data: dict[bytes, dict[bytes, StoredRecord]] = {}
        self._replicas: dict[bytes, int] = {}
        """Keys whose publisher asked for fewer holders than k: how many (see :meth:`replicas_of`)."""
        self._versions: dict[bytes, int] = {}
        self._clock = 0
        self._overflowed_at: dict[bytes, float] = {}
        """When each key last refused a record for being full (bounded: see :meth:`overflowed`)."""
        self._bytes = 0
        self._soonest = float("inf")
        """No record expires before this (a lower bound), so :meth:`expire` can skip a needless scan."""

    def __len__(self) -> int:
        return sum(len(v) for v in self._data.values())

    @property
    def bytes_held(self) -> int:
        return self._bytes

    def keys(self) -> list[bytes]:
        return list(self._data)

    def version(self, key: bytes, now: float | None = None) -> int:
        """Changes whenever the live records under ``key`` do (a store, a refresh, an expiry); 0 when
        it holds none. Lets a layer above cache what it derives from them."""
        self._expire_key(key, time.time() if now is None else now)
        return self._versions.get(key, 0)

    def overflowed(self, key: bytes, within_s: float, now: float | None = None) -> bool:
        """Whether ``key`` is full, or refused a record for being full in the last ``within_s``:
        publishers must then look where the refused subscribers went (one LSH bit deeper)."""
        t = time.time() if now is None else now
        at = self._overflowed_at.get(key)
        if at is not None and t - at > within_s:
            del self._overflowed_at[key]
            at = None
        full = len(self._data.get(key, {})) >= self.limits.max_records_per_key
        return full or at is not None

    def replicas_of(self, key: bytes) -> int:
        """How many nodes should hold ``key`` (0: the swarm's k), as the last store under it said."""
        return self._replicas.get(key, 0)

    def put(
        self, key: bytes, record: Record, now: float | None = None, *, replicas: int = 0
    ) -> tuple[bool, str]:
        """Store or refresh ``record``; (False, reason) when a limit refuses it. ``replicas``: how many
        nodes should hold the key (0: k), remembered for replication."""
        t = time.time() if now is None else now
        records = self._data.get(key)
        if records is None:
            if len(self._data) >= self.limits.max_keys:
                return False, "too many keys"
            records = self._data[key] = {}
        old = records.get(record.subkey)
        if old is None and len(records) >= self.limits.max_records_per_key:
            self._expire_key(key, t)
            if len(records) >= self.limits.max_records_per_key:
                self._overflowed_at.pop(key, None)  # re-inserted last: the oldest goes first below
                self._overflowed_at[key] = t
                if len(self._overflowed_at) > self.limits.max_keys:  # bounded like the keys themselves
                    self._overflowed_at.pop(next(iter(self._overflowed_at)))
                return False, KEY_FULL
        if old is not None and (not old.value or not record.value) and t + record.ttl_s < old.expires_at:
            # A withdrawal (an empty value, :meth:`DHTNode.withdraw`) and the value it withdrew: the
            # one that lives longer is the later, as both were put with the same ttl. A copy handed
            # on keeps its expiry, so a stale copy arriving after the tombstone does not revive it.
            return True, ""
        size = len(record.value) + len(record.subkey)
        freed = len(old.value) + len(old.subkey) if old else 0
        if self._bytes + size - freed > self.limits.max_bytes:
            return False, "store is full"
        records[record.subkey] = StoredRecord(record.subkey, record.value, t + record.ttl_s)
        self._changed(key)
        if replicas:
            self._replicas[key] = replicas
        else:
            self._replicas.pop(key, None)
        self._soonest = min(self._soonest, t + record.ttl_s)
        self._bytes += size - freed
        return True, ""

    def holds(self, key: bytes, now: float | None = None) -> bool:
        """Whether any live record is held under ``key`` (cheaper than :meth:`get`)."""
        self._expire_key(key, time.time() if now is None else now)
        return bool(self._data.get(key))

    def get(self, key: bytes, now: float | None = None) -> list[Record]:
        t = time.time() if now is None else now
        self._expire_key(key, t)
        return [Record(r.subkey, r.value, r.ttl_left(t)) for r in self._data.get(key, {}).values()]

    def items(self, now: float | None = None) -> Iterator[tuple[bytes, Record]]:
        """Every live (key, record), e.g. to hand over or republish."""
        t = time.time() if now is None else now
        for key, records in list(self._data.items()):
            for r in list(records.values()):
                if r.expires_at > t:
                    yield key, Record(r.subkey, r.value, r.ttl_left(t))

    def by_key(self, now: float | None = None) -> Iterator[tuple[bytes, list[Record]]]:
        """Every key with its live records: for work done once per key (its closest nodes), which
        a rendezvous key holding a thousand subscriptions would otherwise repeat a thousand times."""
        t = time.time() if now is None else now
        for key in list(self._data):
            held = self._data.get(key, {}).values()
            records = [Record(r.subkey, r.value, r.ttl_left(t)) for r in held if r.expires_at > t]
            if records:
                yield key, records

    def expire(self, now: float | None = None) -> int:
        """Drop every expired record; returns how many. Scans the store only when one may be due."""
        t = time.time() if now is None else now
        if t < self._soonest:
            return 0
        dropped = sum(self._expire_key(key, t) for key in list(self._data))
        live = (r.expires_at for rs in self._data.values() for r in rs.values())
        self._soonest = min(live, default=float("inf"))
        return dropped

    def _expire_key(self, key: bytes, now: float) -> int:
        records = self._data.get(key)
        if records is None or now < self._soonest:  # no record anywhere is due yet: nothing to scan
            return 0
        dead = [s for s, r in records.items() if r.expires_at <= now]
        for subkey in dead:
            r = records.pop(subkey)
            self._bytes -= len(r.value) + len(r.subkey)
        if dead:
            self._changed(key)
        if not records:
            del self._data[key]
            self._replicas.pop(key, None)
            self._versions.pop(key, None)
        return len(dead)

    def _changed(self, key: bytes) -> None:
        self._clock += 1
        self._versions[key] = self._clock

    def dump(self) -> bytes:
        """msgpack of every record with its absolute expiry, for persistence across restarts."""
        return encode(
            [[k, r.subkey, r.value, r.expires_at] for k, rs in self._data.items() for r in rs.values()]
        )

    def load(self, data: bytes, now: float | None = None) -> int:
        """Add records from :meth:`dump`, skipping expired ones; returns how many were loaded."""
        t = time.time() if now is None else now
        loaded = 0
        for key, subkey, value, expires_at in decode(_DUMP, data, DHTError, "records"):
            ttl = int(float(expires_at) - t)
            if ttl > 0 and self.put(key, Record(subkey, value, ttl), now=t)[0]:
                loaded += 1
        return loaded
