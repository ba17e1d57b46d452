"""A swarm run from synchronous code: on an event loop in a background thread, with coroutines handed
to that loop from other threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from synthswarm.swarm.errors import SwarmError

__all__ = ["in_background", "on_loop", "portal"]

_T = TypeVar("_T")


def on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs on ``loop`` now (and so must not block waiting for it)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def portal(loop: asyncio.AbstractEventLoop | None, coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on the swarm's loop from synchronous code (the dispatcher's ``invoke``)."""
    if loop is None or loop.is_closed():
        coro.close()
        raise SwarmError("the swarm is not running")
    if on_loop(loop):
        coro.close()
        raise SwarmError("invoke/stream would block the swarm's own loop: use ainvoke/astream here")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


@contextmanager
def in_background(
    start: Callable[[], Coroutine[Any, Any, object]], stop: Callable[[], Coroutine[Any, Any, None]]
) -> Iterator[None]:
    """``start()`` on a new loop in a background thread, the block, then ``stop()`` and the loop closed."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="synthswarm-loop", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result()
        yield
    finally:
        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
