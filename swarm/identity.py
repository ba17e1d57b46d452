"""Ed25519 identities: the key an agent or node signs with, and the id derived from it.

An id is SHA-256 of the raw 32-byte public key, so nobody can pick an id without holding the matching
private key (GUIDE section 4).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from synthswarm.swarm.errors import ConfigError

__all__ = ["ID_BYTES", "PUBLIC_KEY_BYTES", "SIGNATURE_BYTES", "Identity", "id_of", "verify_signature"]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
ID_BYTES = 32
_SEED_BYTES = 32


def id_of(public_key: bytes) -> bytes:
    """The 256-bit id that belongs to ``public_key``."""
    return hashlib.sha256(public_key).digest()


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        _public(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Identity:
    """An Ed25519 key pair. Build one with :meth:`generate`, :meth:`from_seed` or :meth:`load`."""

    seed: bytes = field(repr=False)
    public_key: bytes
    id: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """The identity whose private key is the 32-byte ``seed`` (deterministic, for tests and restarts)."""
        if len(seed) != _SEED_BYTES:
            raise ValueError(f"an Ed25519 seed is {_SEED_BYTES} bytes, got {len(seed)}")
        private = Ed25519PrivateKey.from_private_bytes(seed)
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cls(seed=seed, public_key=public, id=id_of(public))

    @classmethod
    def generate(cls) -> Identity:
        """A fresh random identity."""
        return cls.from_seed(os.urandom(_SEED_BYTES))

    @classmethod
    def load(cls, path: Path) -> Identity:
        """Read an identity saved by :meth:`save`."""
        try:
            seed = bytes.fromhex(path.read_text(encoding="ascii").strip())
            return cls.from_seed(seed)
        except (OSError, ValueError) as exc:
            raise ConfigError("identity", f"cannot read key file {path}: {exc}") from exc

    def save(self, path: Path) -> None:
        """Write the private seed to ``path``, readable by its owner only (mode 0600)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(self.seed.hex() + "\n")
        os.chmod(path, 0o600)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message``."""
        return self._private().sign(message)

    def _private(self) -> Ed25519PrivateKey:
        return _private(self.seed)


# The key objects, remembered by their bytes: every packet a node admits names its publisher's key,
# and every packet an agent makes is signed with its own, so building the same few objects again
# for each was a measurable share of the soak's CPU. Every signature is still checked.
_public = functools.lru_cache(maxsize=4096)(Ed25519PublicKey.from_public_bytes)
_private = functools.lru_cache(maxsize=1024)(Ed25519PrivateKey.from_private_bytes)
