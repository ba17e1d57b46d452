"""The eval's rows do not depend on the machine's speed: replies that come late, and in another
order, change no figure (issue 26, part 5). Delays are injected; nothing is timed."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest

from synthswarm.agents.embeddings import HashingEmbedder
from synthswarm.evals.datasets import synthetic_dataset
from synthswarm.evals.harness import CachedEmbedder, Row, run_once
from synthswarm.evals.load_check import VOLATILE, compare
from synthswarm.swarm.dht import Contact
from synthswarm.swarm.direct import Reply
from synthswarm.swarm.host import NodeHost


def _figures(row: Row) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(row).items() if k not in VOLATILE}


async def test_late_replies_in_another_order_change_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    world = synthetic_dataset(seed=2, domains=4, entities_per_domain=6, questions=6)
    embedder = CachedEmbedder(HashingEmbedder())
    vectors = await embedder.embed([p.text for p in world.paragraphs])

    async def rows() -> dict[str, Row]:
        runs = {s: await run_once(world, vectors, 4, s, embedder=embedder, seed=1) for s in ("dht", "gossip")}
        return {s: run.row for s, run in runs.items()}

    quick = await rows()
    send, rng, slow = NodeHost.send_reply, random.Random(7), [1.0]

    async def late(host: NodeHost, to: Contact, reply: Reply) -> bool:
        # Every reply a little late, in a shuffled order; the first one later than the old eval's 0.5 s
        # wait for replies (a machine that stalls once), which used to drop it.
        await asyncio.sleep(slow.pop() if slow else rng.random() * 0.01)
        return await send(host, to, reply)

    monkeypatch.setattr(NodeHost, "send_reply", late)
    loaded = await rows()
    for strategy, row in quick.items():
        assert row.reply_timeouts == loaded[strategy].reply_timeouts == 0
        assert _figures(row) == _figures(loaded[strategy]), strategy


def test_the_load_check_compares_every_field_but_the_volatile_ones() -> None:
    quiet = [{"n": 16, "strategy": "dht", "evidence_recall": 0.9, "wall_s": 10.0}]
    same = [{"n": 16, "strategy": "dht", "evidence_recall": 0.9, "wall_s": 30.0}]
    other = [{"n": 16, "strategy": "dht", "evidence_recall": 0.8, "wall_s": 10.0}]
    assert compare(quiet, same)[1] == 0
    table, differ = compare(quiet, other)
    assert differ == 1
    assert "| evidence_recall | 0.9 | 0.8 | **differs** |" in table
