"""Write-ahead journal of a node's state, so a crash (kill -9) loses nothing it acknowledged.

Snapshots (``records.msgpack``, ``contacts.json``) are written now and then; between them every
accepted record and every new contact is appended here before the node answers the request that
brought it. Each entry is one ``write`` to an ``O_APPEND`` file: once the call returns the bytes
are the kernel's, so a killed process loses none of them (a power cut can; that needs fsync per
entry, which this journal does not pay for). A restart loads the snapshot, then replays the journal;
a torn last entry is ignored. Writing a snapshot empties the journal.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from synthswarm.swarm._codec import decode, encode
from synthswarm.swarm.errors import DHTError

__all__ = ["StateJournal"]

_LENGTH = struct.Struct(">I")
_ENTRY = msgspec.msgpack.Decoder(list[Any])


class StateJournal:
    """An append-only file of msgpack entries, each prefixed by its length."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.entries = 0

    def append(self, entry: list[Any]) -> None:
        data = encode(entry)
        os.write(self._fd, _LENGTH.pack(len(data)) + data)
        self.entries += 1

    def reset(self) -> None:
        """Empty the journal (its entries are now in a snapshot)."""
        os.ftruncate(self._fd, 0)
        self.entries = 0

    def close(self) -> None:
        os.close(self._fd)

    @staticmethod
    def read(path: Path) -> Iterator[list[Any]]:
        """The entries of the journal at ``path``, up to the first torn or unreadable one."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        offset = 0
        while offset + _LENGTH.size <= len(data):
            (size,) = _LENGTH.unpack_from(data, offset)
            body = data[offset + _LENGTH.size : offset + _LENGTH.size + size]
            if len(body) < size:
                return  # torn tail: the process died mid-write
            try:
                entry = decode(_ENTRY, body, DHTError, "journal entry")
            except DHTError:
                return
            yield entry
            offset += _LENGTH.size + size
