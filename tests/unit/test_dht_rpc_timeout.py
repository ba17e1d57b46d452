"""A request's timeout against a reply that arrived in the same turn of the loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from synthswarm.swarm.dht._node.client import _time_out


async def test_a_reply_drained_in_the_turn_its_timer_fires_still_answers() -> None:
    """After a stall, the timer and the drain of the socket holding the reply come due together; the
    drain may be the one a full batch deferred to the next turn. The reply must win, as with
    asyncio.wait_for: failing at once threw away replies that had arrived and sent retries instead."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    loop.call_soon(lambda: None if future.done() else future.set_result(b"reply"))  # the deferred drain
    _time_out(future)
    assert await future == b"reply"


async def test_a_request_whose_reply_never_comes_times_out() -> None:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _time_out(future)
    with pytest.raises(TimeoutError):
        await future
