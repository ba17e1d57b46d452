"""The virtual clock: simulated time passes only in timers, in deadline order, at no wall cost."""

from __future__ import annotations

import asyncio
import time

import pytest

from synthswarm.swarm.errors import SimulationError
from synthswarm.swarm.sim import VirtualClock, run_virtual


def test_an_hour_of_sleep_takes_no_wall_time_and_an_hour_of_virtual_time() -> None:
    clock = VirtualClock()

    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = time.monotonic()
    assert run_virtual(main(), clock) == pytest.approx(3600)
    assert clock.now == pytest.approx(3600)
    assert time.monotonic() - started < 5  # no real waiting (a loose bound: the machine may be busy)


def test_timers_fire_in_deadline_order_and_timeouts_fire_at_their_deadline() -> None:
    async def main() -> tuple[list[int], float]:
        fired: list[int] = []

        async def after(delay: float, tag: int) -> None:
            await asyncio.sleep(delay)
            fired.append(tag)

        await asyncio.gather(after(3.0, 3), after(1.0, 1), after(2.0, 2))
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(loop.create_future(), 0.25)
        return fired, loop.time() - start

    fired, waited = run_virtual(main())
    assert fired == [1, 2, 3]
    assert waited == pytest.approx(0.25)


def test_awaiting_what_nothing_will_ever_complete_is_a_simulation_error() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(SimulationError, match="deadlocked"):
        run_virtual(main())
