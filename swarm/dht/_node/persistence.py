"""A node's state on disk: its key, a snapshot of records and contacts, and the journal of what it
accepted since (:mod:`synthswarm.swarm.dht.journal`), so a restart, or a crash, loses nothing it
acknowledged. Snapshots are msgpack and JSON, never pickle."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from synthswarm.swarm.dht.ids import Contact
from synthswarm.swarm.dht.journal import StateJournal
from synthswarm.swarm.dht.messages import Record
from synthswarm.swarm.dht.routing import RoutingTable
from synthswarm.swarm.dht.storage import RecordStore
from synthswarm.swarm.errors import DHTError
from synthswarm.swarm.identity import Identity

__all__ = ["StateFiles", "load_or_create_identity"]

log = logging.getLogger(__name__)

_RECORDS = "records.msgpack"
_CONTACTS = "contacts.json"
_JOURNAL = "journal.bin"


class StateFiles:
    """The state directory of one node (None: nothing is kept), over its ``store`` and ``table``."""

    def __init__(
        self, state_dir: Path | None, store: RecordStore, table: RoutingTable, *, now: float
    ) -> None:
        self.state_dir = state_dir
        self._store = store
        self._table = table
        self._journal: StateJournal | None = None
        self._saved_at = now

    def open(self) -> list[Contact]:
        """Load the snapshot and replay the journal into the store and table; start journalling.
        Returns the contacts restored (none without a state directory)."""
        if self.state_dir is None:
            return []
        contacts = self._restore()
        self._journal = StateJournal(self.state_dir / _JOURNAL)
        self.save()  # the replayed journal goes into a fresh snapshot
        return contacts

    def keep(self, key: bytes, record: Record, replicas: int = 0) -> tuple[bool, str]:
        """Store ``record``, journalled before the caller acknowledges it."""
        ok, reason = self._store.put(key, record, replicas=replicas)
        if ok and self._journal is not None:
            self._journal.append(["r", key, record.subkey, record.value, time.time() + record.ttl_s])
        return ok, reason

    def added(self, contact: Contact) -> None:
        """Journal a contact new to the routing table."""
        if self._journal is not None:
            self._journal.append(["c", contact.node_id, contact.address])

    def save(self) -> None:
        """Write records and contacts now, and empty the journal they now hold."""
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.state_dir / _RECORDS, self._store.dump())
        contacts = [[c.node_id.hex(), c.address] for c in self._table]
        _atomic_write(self.state_dir / _CONTACTS, json.dumps(contacts).encode())
        if self._journal is not None:
            self._journal.reset()

    def save_if_due(self, now: float, interval_s: float) -> None:
        # Saved now and then, not only on close, so a crash loses at most one interval.
        if self.state_dir is not None and now - self._saved_at >= interval_s:
            self._saved_at = now
            self.save()

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def _restore(self) -> list[Contact]:
        assert self.state_dir is not None
        records = self.state_dir / _RECORDS
        if records.is_file():
            try:
                self._store.load(records.read_bytes())
            except (DHTError, ValueError, TypeError) as exc:
                log.warning("ignoring unreadable %s: %s", records, exc)
        contacts: list[Contact] = []
        table = self.state_dir / _CONTACTS
        if table.is_file():
            try:
                for node_hex, address in json.loads(table.read_text(encoding="utf-8")):
                    contacts.append(Contact(bytes.fromhex(node_hex), str(address)))
            except (ValueError, TypeError) as exc:
                log.warning("ignoring unreadable %s: %s", table, exc)
        contacts.extend(self._replay_journal())
        for contact in contacts:
            self._table.add(contact)
        return contacts

    def _replay_journal(self) -> list[Contact]:
        """Records and contacts accepted after the last snapshot (the process may have been killed)."""
        assert self.state_dir is not None
        contacts, now = [], time.time()
        for entry in StateJournal.read(self.state_dir / _JOURNAL):
            try:
                if entry[0] == "r" and len(entry) == 5:
                    _, key, subkey, value, expires_at = entry
                    if float(expires_at) > now:
                        self._store.put(
                            bytes(key), Record(bytes(subkey), bytes(value), int(expires_at - now) + 1)
                        )
                elif entry[0] == "c" and len(entry) == 3:
                    contacts.append(Contact(bytes(entry[1]), str(entry[2])))
            except (ValueError, TypeError, IndexError) as exc:
                log.warning("skipping a journal entry: %s", exc)
        return contacts


def load_or_create_identity(state_dir: Path | None) -> Identity:
    """The node key kept in ``state_dir`` (made and saved there the first time); a fresh one without."""
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
