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


def test_a_ray_actor_hosts_the_shard_class_its_module_names() -> None:
    from synthswarm.evals._harness.shard import MODULE, EvalShard
    from synthswarm.swarm.cluster._shard import Shard
    from synthswarm.swarm.cluster.shards import SHARD_MODULE

    assert ray_shards.shard_class(SHARD_MODULE) is Shard
    assert ray_shards.shard_class(MODULE) is EvalShard


@pytest.mark.parametrize(
    ("module", "says"),
    [("synthswarm.no_such_module", "cannot import the shard module"), ("json", "names no shard class")],
)
def test_a_module_without_a_shard_class_is_refused(module: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        ray_shards.shard_class(module)
