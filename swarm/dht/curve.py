"""CurveZMQ for secured swarms: keys derived from a node's identity, secured addresses, and ZAP.

A secured node encrypts and authenticates every connection with CurveZMQ (RFC 26). Its Curve key
pair is its Ed25519 identity converted to X25519 (as libsodium's ``crypto_sign_ed25519_*_to_curve25519``),
so one key file makes one node and the Curve key of any peer follows from the Ed25519 key its frames
carry. That binds the two layers:

- a node's address carries its Curve public key (``tcp://host:port#<64 hex>``); the handshake proves
  the server holds the matching secret, and a reply counts only if its sender's Ed25519 key converts
  to that Curve key;
- the ZAP handler names each client connection by its Curve public key, and a request counts only if
  its sender's Ed25519 key converts to the key that connection proved.

So no one can send an RPC, or answer one, under a node id whose key they do not hold. ZeroMQ runs
the Curve handshake only over ``tcp://`` and ``ipc://``, not ``inproc://``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import zmq
import zmq.asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from synthswarm.swarm.identity import PUBLIC_KEY_BYTES, Identity

__all__ = ["CurveKeys", "CurveProofs", "ZapHandler", "curve_public_of", "secured_address", "split_address"]

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"synthswarm"
_P = 2**255 - 19
_KEY_HEX = 2 * PUBLIC_KEY_BYTES


@dataclass(frozen=True)
class CurveKeys:
    """A node's Curve key pair (raw 32-byte keys), derived from its Ed25519 identity."""

    public: bytes
    secret: bytes

    @classmethod
    def of(cls, identity: Identity) -> CurveKeys:
        # RFC 8032: the Ed25519 secret scalar is the clamped first half of SHA-512(seed); X25519
        # clamps the same way, so the same scalar on the Montgomery curve is the Curve secret.
        scalar = hashlib.sha512(identity.seed).digest()[:32]
        private = X25519PrivateKey.from_private_bytes(scalar)
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(public=public, secret=scalar)


def curve_public_of(ed25519_public: bytes) -> bytes | None:
    """The X25519 public key of an Ed25519 public key (u = (1 + y) / (1 - y) mod p), or None if the
    bytes are not a usable key."""
    if len(ed25519_public) != PUBLIC_KEY_BYTES:
        return None
    y = int.from_bytes(ed25519_public, "little") & ((1 << 255) - 1)
    if y >= _P or y == 1:
        return None
    u = (1 + y) * pow(1 - y, -1, _P) % _P
    return u.to_bytes(32, "little")


def secured_address(endpoint: str, curve_public: bytes) -> str:
    """The address a secured node advertises: its endpoint and its Curve public key."""
    return f"{endpoint}#{curve_public.hex()}"


def split_address(address: str) -> tuple[str, bytes | None]:
    """(ZeroMQ endpoint, Curve server key or None) of an advertised address."""
    endpoint, sep, key = address.rpartition("#")
    if sep and len(key) == _KEY_HEX:
        try:
            return endpoint, bytes.fromhex(key)
        except ValueError:
            pass
    return address, None


class CurveProofs:
    """Whether a frame's Ed25519 key is the key behind the Curve key its connection proved, with the
    conversions remembered: every frame names its sender's key, mostly the same few peers'."""

    def __init__(self, remembered: int = 4096) -> None:
        self._remembered = remembered
        self._curve_of: dict[bytes, bytes | None] = {}

    def proves(self, sender_key: bytes, curve_key: bytes | None) -> bool:
        if curve_key is None:
            return False
        derived = self._curve_of.get(sender_key)
        if derived is None:
            if len(self._curve_of) >= self._remembered:
                self._curve_of.clear()
            derived = self._curve_of[sender_key] = curve_public_of(sender_key)
        return derived == curve_key


class ZapHandler:
    """Answers ZeroMQ's authentication requests (ZAP, RFC 27) for every secured socket of a context.

    Any client with a valid Curve handshake is let in (a swarm is open to strangers); what matters
    is that each connection is named by the key it proved, so its requests can be checked against
    the Ed25519 key they claim. Run :meth:`serve` as an owned task; one per context.
    """

    def __init__(self, ctx: zmq.asyncio.Context) -> None:
        self._socket = ctx.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(ZAP_ENDPOINT)
        self.allowed = 0
        self.refused = 0

    @classmethod
    def try_bind(cls, ctx: zmq.asyncio.Context) -> ZapHandler | None:
        """A handler for ``ctx``, or None when one already serves it."""
        try:
            return cls(ctx)
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EADDRINUSE:
                return None
            raise

    async def serve(self) -> None:
        while True:
            try:
                request = await self._socket.recv_multipart()
            except zmq.ZMQError:
                if self._socket.closed:
                    return
                raise
            await self._socket.send_multipart(self._answer(request))

    def _answer(self, request: list[bytes]) -> list[bytes]:
        # [version, request id, domain, address, identity, mechanism, *credentials]
        if len(request) < 6:
            self.refused += 1
            return [b"1.0", b"", b"500", b"malformed ZAP request", b"", b""]
        request_id, mechanism, credentials = request[1], request[5], request[6:]
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            self.refused += 1
            return [b"1.0", request_id, b"400", b"CURVE required", b"", b""]
        self.allowed += 1
        return [b"1.0", request_id, b"200", b"OK", credentials[0].hex().encode(), b""]

    def close(self) -> None:
        self._socket.close(linger=0)
