"""One eval run spread over two real processes (``--processes 2``): the same kind of row as the run in
one process, its requests counted at both processes' sockets."""

from __future__ import annotations

import pytest

from synthswarm.agents.embeddings import make_embedder
from synthswarm.evals.datasets import synthetic_dataset
from synthswarm.evals.harness import CachedEmbedder, run_once
from synthswarm.swarm.config import EmbedderConfig

pytestmark = pytest.mark.integration


async def test_a_run_over_two_processes_gives_the_one_process_row() -> None:
    world = synthetic_dataset(seed=2, domains=4, entities_per_domain=8, questions=12)
    config = EmbedderConfig(backend="hashing")  # each child builds the same embedder, no model to load
    embedder = CachedEmbedder(make_embedder(config))
    vectors = await embedder.embed([p.text for p in world.paragraphs])
    one = (await run_once(world, vectors, 16, "dht", embedder=embedder, seed=0)).row
    two = (
        await run_once(
            world, vectors, 16, "dht", embedder=embedder, seed=0, processes=2, embedder_config=config
        )
    ).row
    assert (one.processes, two.processes) == (1, 2)
    assert set(two.as_dict()) == set(one.as_dict())
    assert (two.n, two.strategy, two.questions, two.paragraphs) == (16, "dht", 12, len(world.paragraphs))
    # The nodes' ids and the sockets differ (random ids over TCP against seeded ids on inproc), so the
    # rendezvous walks differ a little; the work is the same. Counted at one process's sockets only,
    # the spread run would show about half of the requests.
    assert 0.75 <= two.publish_messages / one.publish_messages <= 1.25
    assert 0.75 <= two.messages_per_question / one.messages_per_question <= 1.25
    assert two.reply_messages_per_question > 0
    assert two.fetch_messages_per_question > 0
    assert abs(two.evidence_recall - one.evidence_recall) <= 0.1
    assert two.handoffs_failed == 0
    assert two.reply_timeouts == 0
    assert two.synthesis_ceiling == one.synthesis_ceiling  # the same split: the same agents hold the same
