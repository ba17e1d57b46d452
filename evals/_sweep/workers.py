"""Where a sweep's runs go: a pool of worker processes (none when ``jobs`` is 1, and runs go in this
process), or Ray tasks on a cluster; each worker builds its own models once, and its progress comes
back on a queue."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import queue
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from synthswarm.agents.embeddings import make_embedder
from synthswarm.agents.llm import ChatModel, make_chat_model
from synthswarm.evals._sweep.jobs import Job, Outcome, run_here
from synthswarm.evals._sweep.observer import Quiet, SweepObserver
from synthswarm.evals._sweep.settings import ModelSpec
from synthswarm.evals.harness import CachedEmbedder, paragraph_texts, run_once
from synthswarm.evals.llm_cache import CachedChat
from synthswarm.swarm.config import LLMConfig

__all__ = ["Workers", "chat_model", "work"]


class Workers:
    """Where runs go: a pool of worker processes (none when ``jobs`` is 1), or Ray tasks on a
    cluster (``ray``), and the queue their progress comes back on."""

    def __init__(self, jobs: int, ray: str | None = None) -> None:
        self.jobs = jobs
        self.ray = ray
        self.pool: ProcessPoolExecutor | None = None
        self.remote: Any = None
        """:func:`work` as a Ray remote function, with ``ray``."""
        self.messages: Any = None
        self._manager: Any = None
        self._cluster = contextlib.ExitStack()

    def __enter__(self) -> Workers:
        if self.ray is not None:
            from synthswarm.swarm.cluster.ray_shards import connect

            ray = self._cluster.enter_context(connect(self.ray, cpus=self.jobs))
            from ray.util.queue import Queue

            self.remote = ray.remote(work).options(num_cpus=1)
            self.messages = Queue()
        elif self.jobs > 1:
            # spawn, not fork: the parent has torch and ZeroMQ threads running, which fork does not copy.
            context = multiprocessing.get_context("spawn")
            self._manager = context.Manager()
            self.messages = self._manager.Queue()
            threads = max(1, (os.cpu_count() or 1) // self.jobs)
            self.pool = ProcessPoolExecutor(
                self.jobs, mp_context=context, initializer=_init_worker, initargs=(threads,)
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self._manager is not None:
            self._manager.shutdown()
        self._cluster.close()

    def start(self, job: Job, spec: ModelSpec, out: Path, label: str) -> asyncio.Future[Outcome] | None:
        """``job`` started on a worker process or a Ray task; None when runs go in this process."""
        if self.pool is not None:
            loop = asyncio.get_running_loop()
            return loop.run_in_executor(self.pool, work, job, spec, out, label, self.messages)
        if self.remote is not None:
            ref = self.remote.remote(job, spec, out, label, self.messages)
            future: asyncio.Future[Outcome] = asyncio.wrap_future(ref.future())
            return future
        return None

    def relay(self, watch: SweepObserver) -> None:
        """Pass on the progress the workers reported since the last call."""
        while self.messages is not None:
            try:
                label, stage, done, total = self.messages.get_nowait()
            except queue.Empty:
                return
            watch.stage(label, stage, done, total)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def work(job: Job, spec: ModelSpec, out: Path, label: str, messages: Any) -> Outcome:
    """One run in a worker process (models are built once per worker). It runs the harness's
    :func:`~synthswarm.evals.harness.run_once`: the worker imports it afresh."""
    embedder, chat = _worker_models(spec, out)
    embedder.remember(paragraph_texts(job.dataset, titles=job.settings.titles), job.vectors)
    return asyncio.run(run_here(run_once, job, embedder, chat, label, _Relay(messages)))


class _Relay(Quiet):
    """Progress from a worker process, put on the queue the parent reads (about 50 updates a stage)."""

    def __init__(self, messages: Any) -> None:
        self.messages = messages

    def stage(self, label: str, stage: str, done: int, total: int) -> None:
        if done == total or done % max(1, total // 50) == 0:
            self.messages.put((label, stage, done, total))


@functools.cache
def _worker_models(spec: ModelSpec, out: Path) -> tuple[CachedEmbedder, ChatModel | None]:
    embedder = CachedEmbedder(make_embedder(spec.embedder))
    return embedder, (chat_model(spec.llm, out) if spec.llm is not None else None)


def chat_model(llm: LLMConfig, out: Path) -> ChatModel:
    """The chat model a run answers with, its responses cached in ``OUT/llm-cache.sqlite``."""
    return CachedChat(make_chat_model(llm), out / "llm-cache.sqlite")
