from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.identity import Identity, verify_signature


def test_id_is_sha256_of_public_key() -> None:
    identity = Identity.from_seed(b"\x01" * 32)
    assert identity.id == hashlib.sha256(identity.public_key).digest()
    assert Identity.from_seed(b"\x01" * 32) == identity


def test_sign_and_verify() -> None:
    identity = Identity.generate()
    signature = identity.sign(b"message")
    assert verify_signature(identity.public_key, signature, b"message")
    assert not verify_signature(identity.public_key, signature, b"other")
    assert not verify_signature(identity.public_key[:31], signature, b"message")


def test_save_is_owner_only_and_load_restores(tmp_path: Path) -> None:
    identity = Identity.generate()
    path = tmp_path / "keys" / "agent.key"
    identity.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Identity.load(path) == identity


def test_loading_a_bad_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("zz\n")
    with pytest.raises(ConfigError, match="cannot read key file"):
        Identity.load(path)
