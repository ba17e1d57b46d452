"""The codec of the network floor's own messages: msgspec structs to canonical msgpack, and back.

Encoding is canonical (the shortest form of each value, bin for bytes), so every message has one
encoding, which a signed packet relies on. A :class:`WireStruct` is a msgpack array of its fields, in
order, with exactly those fields. :func:`decode` reads untrusted bytes against a struct type, checked
in C, and turns every failure into the caller's own error type (``ProtocolError`` for requests,
``PacketMalformedError`` for packets), so nothing else escapes, whatever the bytes.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec

__all__ = ["Finite", "WireStruct", "decode", "encode"]

_T = TypeVar("_T")
_ENCODER = msgspec.msgpack.Encoder()

#: A float the wire accepts: not NaN, not infinite (msgspec refuses NaN against either bound).
Finite = Annotated[float, msgspec.Meta(ge=-1.7976931348623157e308, le=1.7976931348623157e308)]


class WireStruct(msgspec.Struct, array_like=True, forbid_unknown_fields=True, frozen=True, gc=False):
    """Base of every message struct: an array of exactly its fields, immutable, never in a cycle.
    (Subclasses say ``frozen=True`` again: msgspec inherits it, mypy's dataclass check does not.)"""


def encode(message: object) -> bytes:
    """The canonical msgpack of ``message`` (structs, tuples, lists, scalars)."""
    return _ENCODER.encode(message)


def decode(decoder: msgspec.msgpack.Decoder[_T], data: bytes, error: type[Exception], what: str) -> _T:
    """``data`` decoded by ``decoder``, or ``error`` naming ``what`` was wrong, whatever the bytes."""
    try:
        return decoder.decode(data)
    # msgspec refuses bad input with DecodeError (ValidationError is one); input nested deeper than the
    # interpreter's recursion limit surfaces as RecursionError. Both mean "malformed".
    except (msgspec.DecodeError, RecursionError) as exc:
        raise error(f"{what}: {exc}") from exc
