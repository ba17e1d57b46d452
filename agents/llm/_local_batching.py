"""The worker thread that gathers queued requests into batches: it takes the first, waits
``wait_s`` for others to join (up to ``max_batch``), and hands each group of requests that share
their sampling to the engine's ``run_group``. An error in one group goes to that group's callers."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from synthswarm.agents.llm._local_rows import Request, SamplingKey
from synthswarm.swarm.errors import ModelError

__all__ = ["BatchWorker"]

# The public module's name, the one users configure logging by.
log = logging.getLogger("synthswarm.agents.llm.local")

_STOP = object()


class BatchWorker:
    """One daemon thread over a queue of requests, started by the first :meth:`put`."""

    def __init__(
        self, run_group: Callable[[list[Request]], None], *, max_batch: int, wait_s: float, name: str
    ) -> None:
        self.run_group = run_group
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.name = name
        self._queue: queue.Queue[Request | object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, request: Request) -> None:
        self._queue.put(request)
        with self._lock:
            if self._thread is None:
                # A daemon thread, so a process that forgets close() can still exit.
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Stop the thread after the requests already queued."""
        with self._lock:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
                self._thread = None

    def _work(self) -> None:
        while True:
            batch, stop = self._next_batch()
            groups: dict[SamplingKey, list[Request]] = {}
            for request in batch:
                if request.future.set_running_or_notify_cancel():
                    groups.setdefault(request.sampling_key(), []).append(request)
            for group in groups.values():
                self._run(group)
            if stop:
                return

    def _next_batch(self) -> tuple[list[Request], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        assert isinstance(first, Request)
        batch = [first]
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, Request)
            batch.append(item)
        return batch, False

    def _run(self, group: list[Request]) -> None:
        try:
            self.run_group(group)
        except Exception as exc:  # the worker must outlive any one batch; the error goes to its callers
            error = exc if isinstance(exc, ModelError) else ModelError(f"local generation failed: {exc!r}")
            for request in group:
                if not request.future.done():
                    request.future.set_exception(error)
            if not isinstance(exc, ModelError):
                log.exception("local generation failed")
