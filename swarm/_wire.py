"""Hand-read msgpack, kept only for the modules not yet moved to msgspec structs.

The network floor's own messages (packets, the host's requests, the routers') are msgspec structs read
by :mod:`synthswarm.swarm._codec`. What still imports this: the DHT's record store and journal
(``swarm/dht/storage.py``, ``swarm/dht/journal.py``), two benchmarks (``swarm/app/bench``) and one test;
when they move, this module goes. Every failure becomes the caller's own error type.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgpack

__all__ = ["expect_type", "pack", "unpack_untrusted"]

_T = TypeVar("_T")


def pack(obj: Any) -> bytes:
    """Canonical msgpack: the shortest encoding of each value, bin type for bytes."""
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def unpack_untrusted(data: bytes, error: type[Exception]) -> Any:
    """Unpack ``data`` or raise ``error``, whatever is wrong with it."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    # msgpack signals bad input with ValueError subclasses (ExtraData, FormatError, StackError,
    # UnicodeDecodeError) and TypeError for unhashable map keys; all of them mean "malformed".
    except (ValueError, TypeError, OverflowError, RecursionError, msgpack.UnpackException) as exc:
        raise error(f"not valid msgpack: {type(exc).__name__}: {exc}") from exc


def expect_type(value: object, kind: type[_T], name: str, error: type[Exception]) -> _T:
    """``value`` if it is exactly of ``kind`` (so ``True`` is not an int here), else raise ``error``."""
    if type(value) is not kind:
        raise error(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value
