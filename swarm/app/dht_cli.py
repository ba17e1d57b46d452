"""``synthswarm dht``: one-shot DHT clients (the work is in :mod:`~synthswarm.swarm.app.node_cli`)."""

from __future__ import annotations

import sys

import click

from synthswarm.swarm import tasks

__all__ = ["dht"]


@click.group()
def dht() -> None:
    """One-shot DHT clients: join, do one thing, leave."""


@dht.command("get")
@click.argument("key")
@click.option("--join", "join", multiple=True, required=True, metavar="ADDRESS", help="Bootstrap address.")
def dht_get_command(key: str, join: tuple[str, ...]) -> None:
    """Print the values stored under KEY (exit status 1 when there are none)."""
    from synthswarm.swarm.app.node_cli import dht_get

    sys.exit(tasks.run(dht_get(key, join)))


@dht.command("put")
@click.argument("key")
@click.argument("value")
@click.option("--join", "join", multiple=True, required=True, metavar="ADDRESS", help="Bootstrap address.")
@click.option("--ttl", default=3600, show_default=True, help="Seconds the record lives.")
def dht_put_command(key: str, value: str, join: tuple[str, ...], ttl: int) -> None:
    """Store VALUE under KEY on the nodes closest to it."""
    from synthswarm.swarm.app.node_cli import dht_put

    sys.exit(tasks.run(dht_put(key, value, join, ttl)))
