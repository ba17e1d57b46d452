"""One clock for a whole simulated swarm: an asyncio event loop whose time is virtual.

:class:`VirtualTimeLoop` is asyncio's own selector loop with two changes: :meth:`time` reads a
:class:`VirtualClock`, and its selector never sleeps. When nothing is ready the loop asks the
selector to wait until the next timer is due; the selector instead moves the clock to that moment at
once. So every ``asyncio.sleep``, ``wait_for`` timeout and simulated latency takes no wall time, and
timers fire in the order of their virtual deadlines, as they would on a real clock. Real file
descriptors (the loop's own wake-up pipe) are still polled, without blocking.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

from synthswarm.swarm.errors import SimulationError

__all__ = ["VirtualClock", "VirtualTimeLoop", "run_virtual"]

_T = TypeVar("_T")


class VirtualClock:
    """Seconds of virtual time; moves only forward, and only when the loop has nothing ready."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.now += seconds


class _JumpingSelector(selectors.SelectSelector):
    """Polls its file descriptors without blocking; a wait for a timer jumps the clock instead."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise SimulationError("nothing is ready and no timer is set: the simulation is deadlocked")
        self._clock.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on ``clock``'s virtual time (see the module docstring)."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock or VirtualClock()
        super().__init__(selector=_JumpingSelector(self.clock))

    def time(self) -> float:
        return self.clock.now


def run_virtual(main: Coroutine[Any, Any, _T], clock: VirtualClock | None = None) -> _T:
    """``asyncio.run(main)`` on a :class:`VirtualTimeLoop`."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        return runner.run(main)
