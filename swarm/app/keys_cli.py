"""``synthswarm keys``: create and show the key files nodes sign with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from synthswarm.swarm.app._options import err, out

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """Node keys: the Ed25519 identity a node signs with, and the Curve key derived from it."""


@keys.command("create")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing key file.")
def keys_create(path: Path, force: bool) -> None:
    """Create a node key at PATH, readable by its owner only (mode 0600)."""
    from synthswarm.swarm.identity import Identity

    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to replace it (the old identity is lost)")
    identity = Identity.generate()
    identity.save(path)
    _print_key(path, identity)


@keys.command("show")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def keys_show(path: Path) -> None:
    """Print the node id and public keys of the key at PATH (never the secret)."""
    from synthswarm.swarm.identity import Identity

    _print_key(path, Identity.load(path))


def _print_key(path: Path, identity: Any) -> None:
    from synthswarm.swarm.dht.curve import CurveKeys

    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        err.print(f"[yellow]warning:[/] {path} is readable by others (mode {mode:o}); run chmod 600 {path}")
    fields = {
        "path": str(path),
        "mode": f"{mode:o}",
        "node_id": identity.id.hex(),
        "ed25519_public": identity.public_key.hex(),
        "curve_public": CurveKeys.of(identity).public.hex(),
    }
    out.print_json(json.dumps(fields))
