"""How Ray placement fails before any cluster is involved: clear errors of our own type."""

from __future__ import annotations

import sys

import pytest

from synthswarm.swarm.cluster import ray_shards
from synthswarm.swarm.errors import ConfigError


def test_ray_not_installed_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'synthswarm\[ray\]'"), ray_shards.connect("auto"):
        pass


@pytest.mark.parametrize("address", ["nonsense", "ray://host", "host:port"])
def test_a_malformed_cluster_address_is_refused(address: str) -> None:
    with pytest.raises(ConfigError, match="is not auto, local, HOST:PORT or ray://HOST:PORT"):
        ray_shards._probe(address)
