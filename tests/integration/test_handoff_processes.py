"""A handoff across processes: the entry agent and the dispatcher in this process route a question by
meaning to a specialist in another OS process, over real ZeroMQ on loopback, and get its context (and
answer) back through counted ``handoff`` requests (:mod:`synthswarm.agents.entry`). The two-node tests
in ``tests/unit/test_entry.py`` run both nodes in one process; this one shares nothing but sockets."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthswarm.agents.dispatcher import build_dispatcher
from synthswarm.agents.entry import ROUTED, choose, context_of, hand_off
from synthswarm.agents.llm import ScriptedChat
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.dht import DHTNode, requests_by_category
from synthswarm.swarm.routers import DHTRouter
from synthswarm.swarm.semantic import SemanticHasher
from tests.unit.agents_world import ASTRONOMY_FACT, BOTANY, BOTANY_FACT, EMBEDDER
from tests.unit.agents_world import context_of as seen

ROOT = Path(__file__).resolve().parents[2]
OBSERVATORY = "When was the Veltmar Observatory founded?"
#: Bounds on each wait, so that a hung child fails the test instead of hanging it.
START_S, STEP_S, STOP_S = 30.0, 15.0, 10.0


@dataclass
class FarNode:
    """The child process (:mod:`tests.integration.handoff_node`), read a JSON line at a time."""

    proc: asyncio.subprocess.Process
    log: Path

    async def next(self, event: str, timeout_s: float = STEP_S) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout_s):
                while line := await self.proc.stdout.readline():
                    seen: dict[str, Any] = json.loads(line)
                    if seen["event"] == event:
                        return seen
        except TimeoutError:
            pass
        raise AssertionError(f"no {event!r} from the far node; its stderr: {self.stderr()}")

    async def send(self, **command: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@asynccontextmanager
async def far_node(tmp_path: Path) -> AsyncIterator[FarNode]:
    """The child started, and stopped whatever happens: its stdin closed, then killed if it lingers."""
    log = tmp_path / "far-node.stderr"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.handoff_node", cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        yield FarNode(proc, log)
    finally:
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_the_entry_and_the_dispatcher_get_a_context_handed_back_from_another_process(
    tmp_path: Path,
) -> None:
    async with far_node(tmp_path) as far:
        ready = await far.next("ready", START_S)
        astronomer = bytes.fromhex(ready["agent_id"])
        async with await DHTNode.create(listen="tcp://127.0.0.1:*", bootstrap=[ready["address"]]) as node:
            botany = Specialist(*BOTANY, chat=ScriptedChat(default=seen), embedder=EMBEDDER)
            await botany.learn([BOTANY_FACT])  # the observatory passage lives only in the other process
            await botany.join(DHTRouter(SemanticHasher(EMBEDDER.dims)), node)

            # The entry step finds the astronomer by meaning, through the router, on the far node...
            vector = await botany.embed(OBSERVATORY)
            choice = await asyncio.wait_for(choose(ROUTED, botany, OBSERVATORY, vector), STEP_S)
            assert choice.agent_id == astronomer
            assert choice.holder is not None
            assert choice.holder.address == ready["address"]
            # ... and hands it the question: the context comes back from the other process.
            before = requests_by_category([node])
            handed = await hand_off(
                botany, choice.holder, astronomer, OBSERVATORY, answer=False, timeout_s=STEP_S
            )
            assert handed.responder == astronomer
            context = context_of(handed)
            assert any(e.text == ASTRONOMY_FACT and e.refs for e in context.evidence)
            assert (requests_by_category([node]) - before)["handoff"] == 1  # the question, sent from here

            # The dispatcher does the same from its entry, and the far specialist answers where it lives.
            graph = build_dispatcher([botany], embedder=EMBEDDER, fan_out=1, names={astronomer: "astro"})
            config: Any = {"configurable": {"thread_id": "far"}}
            state = await asyncio.wait_for(
                graph.ainvoke({"messages": [("user", OBSERVATORY)]}, config), STEP_S
            )
            assert [c["name"] for c in state["chosen"]] == ["astro"]
            assert ASTRONOMY_FACT in state["answer"]  # the scripted model there repeats its context
            assert (requests_by_category([node]) - before)["handoff"] == 2

            await far.send(stats=True)
            assert (await far.next("stats"))["sent"]["handoff"] == 2  # each context sent back, counted there
