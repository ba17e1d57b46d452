"""``synthswarm config``: inspect the configuration."""

from __future__ import annotations

import click
from rich.table import Table

from synthswarm.swarm.app._options import out
from synthswarm.swarm.config import Config, describe

__all__ = ["config"]


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_obj
def config_show(cfg: Config) -> None:
    """Every setting, its current value and what it does."""
    table = Table("key", "value", "meaning", title="synthswarm configuration")
    for key, value, doc in describe(cfg):
        table.add_row(key, value, doc)
    out.print(table)
