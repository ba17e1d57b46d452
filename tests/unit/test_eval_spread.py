"""What a run spread over processes refuses, before any process starts."""

from __future__ import annotations

import dataclasses

import pytest

from synthswarm.evals._harness.spread import check_spread
from synthswarm.evals.harness import RunSettings
from synthswarm.evals.sweep import SweepSettings
from synthswarm.swarm.errors import ConfigError


def test_a_spread_run_refuses_what_it_cannot_count_across_processes() -> None:
    s = RunSettings()
    check_spread("dht", 16, 4, s, answer=False)
    refused = [
        ("hub", 16, 4, s, False),  # routers that hold state in one process
        ("isolated", 16, 4, s, False),
        ("dht", 3, 4, s, False),  # fewer agents than processes
        ("dht", 16, 1, s, False),
        ("dht", 16, 2, dataclasses.replace(s, answerer="scan"), False),  # a free read of every agent
        ("dht", 16, 2, dataclasses.replace(s, kill=0.2), False),
        ("dht", 16, 2, dataclasses.replace(s, synthesis=True), False),
        ("dht", 16, 2, s, True),  # model answers
    ]
    for strategy, n, processes, settings, answer in refused:
        with pytest.raises(ConfigError):
            check_spread(strategy, n, processes, settings, answer=answer)


def test_the_sweep_refuses_bad_process_counts() -> None:
    with pytest.raises(ConfigError):
        SweepSettings(sizes=(16,), strategies=("dht",), processes=0)
    assert SweepSettings(sizes=(16,), strategies=("dht", "oracle"), processes=4).processes == 4
    # Ray places a spread run's shards (tests/integration/test_ray.py runs one).
    assert SweepSettings(sizes=(16,), strategies=("dht",), processes=2, ray="local").ray == "local"
