"""The simulated network: frames counted where they are sent, delays and losses drawn from the model."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from dataclasses import dataclass

import pytest

from synthswarm.swarm.dht.transport import SendError
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.sim import NetworkModel, SimNetwork, SimTransport, run_virtual


@dataclass
class _Exchange:
    a: SimTransport
    b: SimTransport
    replies: list[tuple[float, bytes]]


async def _exchange(network: SimNetwork, count: int) -> _Exchange:
    """``count`` requests from one transport to another, which answers each with its frame reversed;
    the replies that came back, with the virtual time each arrived."""
    host = network.host()
    a, b = host.attach(), host.attach()
    assert isinstance(a, SimTransport)
    assert isinstance(b, SimTransport)
    replies: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()

    def answer(reply_to: bytes | None, frame: bytes, _: bytes | None) -> None:
        assert reply_to is not None
        b.send_reply(reply_to, frame[::-1])

    def log(_: bytes | None, frame: bytes, __: bytes | None) -> None:
        replies.append((loop.time(), frame))

    def ignore(*_: object) -> None:
        pass

    serving = [asyncio.ensure_future(b.serve(answer, ignore)), asyncio.ensure_future(a.serve(ignore, log))]
    await asyncio.sleep(0)
    for i in range(count):
        await a.send_request(b.address, i.to_bytes(4, "big"))
    await asyncio.sleep(60)
    for task in serving:
        task.cancel()
    await asyncio.gather(*serving, return_exceptions=True)
    return _Exchange(a, b, replies)


def test_every_frame_is_counted_at_the_sender_and_arrives_after_the_models_delay() -> None:
    network = SimNetwork(NetworkModel(median_latency_s=0.05, latency_sigma=0.0, loss=0.0))
    done = run_virtual(_exchange(network, 10))
    got = done.replies
    assert network.stats.requests == 10
    assert network.stats.replies == 10
    assert network.stats.bytes == 80
    assert done.a.stats.frames_out == 10
    assert done.b.stats.frames_out == 10
    assert sorted(frame for _, frame in got) == sorted(i.to_bytes(4, "big")[::-1] for i in range(10))
    assert all(t == pytest.approx(0.1) for t, _ in got)  # two one-way delays of 50 ms


def test_losses_are_independent_at_the_stated_rate() -> None:
    network = SimNetwork(NetworkModel(loss=0.2, seed=3))
    got = run_virtual(_exchange(network, 2000)).replies
    # A round trip survives with (1 - p)^2 = 0.64; 2,000 tries put 4 sigma at about 0.043.
    assert abs(len(got) / 2000 - 0.64) < 0.043
    assert network.stats.lost == 2000 - len(got)  # each exchange that failed lost exactly one frame
    assert network.stats.requests == 2000  # lost frames were sent, and counted


def test_delays_are_lognormal_around_the_stated_median() -> None:
    model = NetworkModel(median_latency_s=0.02, latency_sigma=0.5)
    rng = random.Random(0)
    delays = [model.delay(rng) for _ in range(20_000)]
    assert statistics.median(delays) == pytest.approx(0.02, rel=0.03)
    assert statistics.stdev(math.log(d) for d in delays) == pytest.approx(0.5, rel=0.03)
    assert "lognormal, median 20 ms, sigma 0.5" in model.describe()
    assert "loss 0.01" in model.describe()


def test_a_request_to_no_live_node_fails_at_once_and_the_model_is_checked() -> None:
    network = SimNetwork()

    async def main() -> None:
        a = network.host().attach()
        with pytest.raises(SendError):
            await a.send_request("sim://nowhere", b"x")

    run_virtual(main())
    assert network.stats.requests == 0
    assert network.stats.unroutable == 1
    with pytest.raises(ConfigError):
        NetworkModel(loss=1.0)
