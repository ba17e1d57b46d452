"""Every question answered from the context its answerer gathered, by that agent's model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from synthswarm.agents.specialist import Context, Specialist
from synthswarm.evals._harness.settings import Progress
from synthswarm.evals.datasets import Question

__all__ = ["answer_all"]

_CONCURRENT_ANSWERS = 32


async def answer_all(
    questions: Sequence[Question], asked: Sequence[tuple[Specialist, Context]], report: Progress
) -> list[str]:
    """Every question answered from its gathered context, many at once, so that a local model
    generates them in padded batches (and a remote server is not sent them all together)."""
    done = 0
    limit = asyncio.Semaphore(_CONCURRENT_ANSWERS)

    async def one(question: Question, agent: Specialist, context: Context) -> str:
        nonlocal done
        async with limit:
            text, calls, tokens = await agent.respond(question.question, context.evidence)
        agent.stats.llm_calls += calls
        agent.stats.tokens += tokens
        done += 1
        report("answer", done, len(questions))
        return text

    return list(
        await asyncio.gather(*(one(q, agent, ctx) for q, (agent, ctx) in zip(questions, asked, strict=True)))
    )
