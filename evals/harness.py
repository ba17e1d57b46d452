"""One run of the scaling protocol (GUIDE section 5): N specialists over a dataset, one strategy.

1. The corpus is split among N agents by topic (:func:`synthswarm.evals.partition.partition`). Each
   paragraph is learnt with its title (embedded as ``"title: text"`` and searched lexically).
2. Publish: every agent distills each of its paragraphs into a finding packet and publishes it
   through the strategy's router. With ``kill``, that fraction of the nodes then dies (for hub, the
   hub's node among them).
3. Ask: each question enters at a seeded live agent, whose entry step finds the answerer by the
   run's rule (:mod:`synthswarm.agents.entry`, the dispatcher's too): ``routed`` (default) sends the
   question as a query through the router and hands it to the best bidder, ``entry`` answers it
   itself; ``scan`` (the old free read of every agent) is an oracle ablation counted as look-ups.
   The answerer gathers its context with :func:`synthswarm.agents.asking.ask`: rounds of queries
   (the question, then the question bridged by the best new passages), every passage it holds,
   received or was offered ranked in one list, texts fetched for the final ``budget``. The
   ``isolated`` baseline answers by ``RunSettings.isolated_answerer`` (the scan unless told).
4. Scored per question: evidence recall (the share of the question's supporting paragraphs whose
   whole text is in the answering agent's context), rounds, and every request the nodes sent while
   it was asked, counted at the socket by category (routing the queries, replies, text fetches,
   subscriptions). Per run: provenance pairs (distinct unordered agent pairs {i, j} where j's context
   used a passage of i) and synthesis pairs (pairs joined by the direct parents of a synthesis that
   brought a passage into a final context),
   against N(N-1)/2. With a model, the answering agents then answer every question from its context
   (EM, F1, contains).

With ``synthesis``, a settle phase runs between 2 and 3: every agent combines the findings it received with
its own where they name the same entity (:meth:`synthswarm.agents.specialist.Specialist.synthesize_received`),
publishes the syntheses, and reacts to the others' until the swarm is quiet; what that costs is counted at the
socket (``synthesis_messages``). The synthesis figures (``synthesis_useful`` against its ceiling,
``synthesis_used`` and ``synthesis_used_own``, ``synthesis_pairs`` from direct parents) are
:mod:`synthswarm.evals._harness.synthesis_metrics`'s.

``oracle`` is one agent holding every paragraph and asking the same way (same retrieval, rounds and
budget), so oracle minus dht is what routing loses; ``isolated`` asks the same way with nothing
shared. ``ceiling`` is the share of gold paragraphs present in the corpus at all. Inboxes are sized
to hold the whole corpus, so no strategy loses packets to eviction (the row counts any that happen).
Paragraph embeddings are computed once per dataset and reused (:class:`CachedEmbedder`), so runs
differ only in the swarm.

:func:`run_once` runs the phases in order; each lives in the private package
:mod:`synthswarm.evals._harness` (its docstring maps it), whose public names are re-exported here.
"""

from __future__ import annotations

import time

from synthswarm.agents.embeddings import Vectors
from synthswarm.agents.llm import ChatModel, ScriptedChat
from synthswarm.evals._harness.ask import ask_all
from synthswarm.evals._harness.build import build_agents, inbox_limit, router_for
from synthswarm.evals._harness.embedder import CachedEmbedder, paragraph_texts
from synthswarm.evals._harness.metrics import (
    FETCH,
    HANDOFF,
    QUESTION,
    RELAY,
    REPLY,
    ROUTE,
    SUBSCRIBE,
    ceiling,
)
from synthswarm.evals._harness.publish import kill, publish, settle
from synthswarm.evals._harness.rows import Row, RunResult
from synthswarm.evals._harness.settings import (
    ALL_STRATEGIES,
    ANSWER_INSTRUCTIONS,
    ORACLE,
    Progress,
    RunSettings,
)
from synthswarm.evals._harness.spread import check_spread, run_spread
from synthswarm.evals.datasets import Dataset
from synthswarm.evals.partition import partition
from synthswarm.swarm.config import EmbedderConfig
from synthswarm.swarm.dht.testing import launch_swarm
from synthswarm.swarm.errors import ConfigError

__all__ = [
    "ALL_STRATEGIES",
    "ANSWER_INSTRUCTIONS",
    "FETCH",
    "HANDOFF",
    "ORACLE",
    "QUESTION",
    "RELAY",
    "REPLY",
    "ROUTE",
    "SUBSCRIBE",
    "CachedEmbedder",
    "Progress",
    "Row",
    "RunResult",
    "RunSettings",
    "paragraph_texts",
    "run_once",
]


async def run_once(
    dataset: Dataset,
    vectors: Vectors,
    n: int,
    strategy: str,
    *,
    embedder: CachedEmbedder,
    chat: ChatModel | None = None,
    seed: int = 0,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
    processes: int = 1,
    embedder_config: EmbedderConfig | None = None,
    ray: str | None = None,
) -> RunResult:
    """Run the protocol once; ``vectors`` are the paragraph embeddings, in dataset order. With
    ``chat``, the answering agents also answer each question from its context (EM and F1); without,
    only evidence is scored and no model is called. With ``processes`` > 1 the agents are spread over
    that many processes sharing one DHT (:mod:`synthswarm.evals._harness.spread`; each builds the
    embedder ``embedder_config`` names; with ``ray``, the other processes are actors on that Ray
    cluster); the oracle, one agent, runs here all the same."""
    if strategy not in ALL_STRATEGIES:
        raise ConfigError(
            "eval.strategies", f"unknown strategy {strategy!r}: use {', '.join(ALL_STRATEGIES)}"
        )
    s = settings or RunSettings()
    report = progress or (lambda stage, done, total: None)
    began = time.perf_counter()
    if not 0.0 <= s.kill < 1.0:
        raise ConfigError("eval.kill", f"must be in [0, 1), got {s.kill}")
    if processes > 1 and strategy != ORACLE:
        check_spread(strategy, n, processes, s, answer=chat is not None)
        result = await run_spread(
            dataset, vectors, n, strategy, processes=processes, embedder=embedder,
            embedder_config=embedder_config or EmbedderConfig(), seed=seed, settings=s, report=report,
            ray=ray,
        )  # fmt: skip
        _finish(result.row, dataset, n, strategy, s, began)
        return result
    parts = [list(range(len(dataset.paragraphs)))] if strategy == ORACLE else partition(vectors, n, seed=seed)
    # One transport host for every node (two sockets in all, not two per node, and no pipe per pair
    # of nodes that ever spoke): about 1.7 MB less per agent, with the same requests (issue 27). Not
    # with --kill: a node killed on a shared host does not refuse what is sent to it, so each request
    # to it would wait out its timeout (30 s here), where a dead node's own socket fails it at once.
    shared = not s.kill
    async with launch_swarm(len(parts), seed=seed, seeded_ids=True, settings=s.dht, shared=shared) as nodes:
        router = router_for(strategy, nodes, embedder, s)
        inbox = inbox_limit(dataset)
        model = chat or ScriptedChat()  # ScriptedChat: a model call without --llm would raise
        agents = await build_agents(dataset, parts, nodes, router, embedder, model, s, inbox, seed, report)
        publish_messages = await publish(agents, nodes, report)
        synthesis_messages = await settle(agents, nodes, report) if s.synthesis else 0
        live = await kill(nodes, agents, strategy, s.kill, seed) if strategy != ORACLE else agents
        holders = {dataset.paragraphs[j].id: i for i, part in enumerate(parts) for j in part}
        rule = s.isolated_answerer or s.answerer if strategy == "isolated" else s.answerer
        row, edges = await ask_all(
            dataset, agents, live, nodes, s, report, holders, answer=chat is not None, seed=seed, rule=rule
        )
        row.synthesis = "on" if s.synthesis else "off"
        row.syntheses = sum(a.stats.syntheses for a in agents)
        row.synthesis_messages = synthesis_messages
        row.inbox_evicted = sum(a.memory.evicted for a in agents)
    row.publish_messages = publish_messages
    _finish(row, dataset, n, strategy, s, began)
    return RunResult(row, edges)


def _finish(row: Row, dataset: Dataset, n: int, strategy: str, s: RunSettings, began: float) -> None:
    """What every run's row says of the run itself, wherever its agents lived."""
    row.n, row.strategy = n, strategy
    row.killed_fraction = 0.0 if strategy == ORACLE else s.kill
    row.ceiling = ceiling(dataset)
    row.protocol, row.questions, row.paragraphs = s.protocol, len(dataset.questions), len(dataset.paragraphs)
    row.part = dataset.part
    row.possible_pairs = n * (n - 1) // 2
    row.wall_s = round(time.perf_counter() - began, 2)
