"""``synthswarm chat``: talk to the dispatcher in a terminal.

Each answer shows, as it happens, which specialists the dispatcher asked, what each answered, and
then the answer with the packets it used. Commands: ``/agents``, ``/packets`` (the packets behind the
last answer), ``/trace`` (every event of the last turn), ``/reset`` (forget this thread's history),
``/quit``. The conversation is kept per thread in SQLite under the data directory, so
``synthswarm chat --thread NAME`` picks a thread up again after a restart.

When a step needs a person's approval (:mod:`synthswarm.agents.approval`), the chat says what waits and asks
``approve? [y/N]``; the next line decides (``y`` or ``yes`` approves, anything else denies), and the
turn goes on. A thread left waiting by an earlier session is asked about when the chat starts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from synthswarm.agents.approval import Decision, PendingApproval, resume_command
from synthswarm.agents.dispatcher import (
    EVENT_ANSWER,
    EVENT_DENIED,
    EVENT_FAILED,
    EVENT_FINAL,
    EVENT_RETRY,
    EVENT_ROUTE,
    EVENT_TOKEN,
    AnswerStream,
)
from synthswarm.agents.embeddings import make_embedder
from synthswarm.agents.llm import make_chat_model
from synthswarm.swarm.app.demo import swarm_of
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.config import Config
from synthswarm.swarm.errors import SynthswarmError

__all__ = ["APPROVE_PROMPT", "COMMANDS", "ChatSession", "chat"]

APPROVE_PROMPT = "approve? [y/N] "
_YES = frozenset({"y", "yes"})

COMMANDS = {
    "/agents": "the specialists, their domains and what they hold",
    "/packets": "the packets the last answer used",
    "/trace": "every event of the last turn",
    "/reset": "forget this thread's history",
    "/quit": "leave (so do Ctrl-D and Ctrl-C)",
    "/help": "this list",
}


class ChatSession:
    """One thread of conversation with a running swarm, printed to ``console``."""

    def __init__(
        self, swarm: Swarm, console: Console, thread: str, read: Callable[[], str] | None = None
    ) -> None:
        """``read`` gives the next line of input, for approvals (without it, every approval is denied)."""
        self.swarm = swarm
        self.read = read
        self.console = console
        self.thread = thread
        self.trace: list[dict[str, Any]] = []
        self.provenance: dict[str, Any] = {}
        self._midline = False

    @property
    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread}}

    async def history(self) -> list[BaseMessage]:
        """The thread's earlier messages, from the checkpointer."""
        state = await self.swarm.dispatcher.aget_state(self._config)
        messages: list[BaseMessage] = state.values.get("messages", []) if state and state.values else []
        return messages

    async def handle(self, line: str) -> bool:
        """Act on one line of input; False when the session should end."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return await self._command(text.split()[0].lower())
        await self.ask(text)
        return True

    async def ask(self, question: str) -> None:
        self.trace, self.provenance = [], {}
        await self.swarm.joined()
        await self._run({"messages": [("user", question)]})
        await self.settle()

    async def settle(self) -> None:
        """Ask the user about each approval the thread waits for, and go on until it waits for none."""
        while pending := await self.swarm.pending(self.thread):
            decisions = {p.id: await self._decide(p) for p in pending}
            await self._run(resume_command(pending, decisions))

    async def _decide(self, pending: PendingApproval) -> Decision:
        self._line(f"[yellow]approval needed[/]: {escape(pending.request.describe())}")
        self.console.print(escape(APPROVE_PROMPT), end="")
        try:
            reply = await asyncio.to_thread(self.read) if self.read is not None else ""
        except (EOFError, KeyboardInterrupt):
            reply = ""
        approved = reply.strip().lower() in _YES
        self.console.print("approved" if approved else "denied")
        return Decision(approved, "" if approved else "denied in chat")

    async def _run(self, turn: Any) -> None:
        answer = AnswerStream()
        async for event in self.swarm.dispatcher.astream(turn, config=self._config, stream_mode="custom"):
            if event.get("type") != EVENT_TOKEN:
                self.trace.append(event)
            if piece := answer.feed(event):
                if piece == answer.text:  # the first piece: the answer starts here
                    self.console.print("[bold]swarm[/]: ", end="")
                self.console.print(escape(piece), end="", soft_wrap=True)
                self._midline = True
            self._show(event)

    def _line(self, text: str) -> None:
        """Print ``text`` on a line of its own, ending a streamed answer's line first."""
        if self._midline:
            self.console.print()
            self._midline = False
        if text:
            self.console.print(text)

    def _show(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == EVENT_ROUTE:
            asked = ", ".join(f"{c['name']} ({c['score']:.2f})" for c in event["specialists"])
            self._line(f"[dim]asking {escape(asked)}[/]")
        elif kind == EVENT_ANSWER:
            origins = sorted({p["from"] for p in event["packets"]})
            via = f" using packets from {', '.join(origins)}" if origins else ""
            self._line(f"[dim]{escape(event['agent'])} answered{escape(via)}[/]")
        elif kind == EVENT_RETRY:
            self._line(f"[dim]{escape(event['agent'])} failed ({escape(event['error'])}); trying again[/]")
        elif kind == EVENT_FAILED:
            self._line(f"[red]{escape(event['agent'])} failed[/]: {escape(event['error'])}")
        elif kind == EVENT_DENIED:
            what = f"running {event['tool']}" if event["tool"] else "asking it"
            self._line(f"[dim]{escape(event['agent'])}: {escape(what)} was denied[/]")
        elif kind == EVENT_FINAL:
            self.provenance = event["provenance"]
            self._line("")
            p = self.provenance
            self.console.print(
                f"[dim]{len(p['packets'])} packet(s) from {', '.join(p['agents_used']) or 'no other agent'}; "
                f"{p['messages']} routing messages, {p['llm_calls']} model calls (/packets, /trace)[/]"
            )

    async def _command(self, name: str) -> bool:
        handlers: dict[str, Callable[[], Any]] = {
            "/agents": self._agents,
            "/packets": self._packets,
            "/trace": self._trace,
            "/reset": self._reset,
            "/help": self._help,
        }
        if name == "/quit":
            return False
        handler = handlers.get(name)
        if handler is None:
            self.console.print(f"unknown command {escape(name)}; /help lists them")
            return True
        result = handler()
        if asyncio.iscoroutine(result):
            await result
        return True

    def _help(self) -> None:
        for name, what in COMMANDS.items():
            self.console.print(f"  {name:<9} {what}")

    async def _agents(self) -> None:
        table = Table("agent", "domain", "documents", "inbox", "published")
        for s in self.swarm.specialists:
            documents, inbox = await s.memory.counts()
            table.add_row(s.name, s.domain, str(documents), str(inbox), str(s.stats.published))
        self.console.print(table)

    def _packets(self) -> None:
        packets = self.provenance.get("packets", [])
        if not packets:
            self.console.print("the last answer used no packets" if self.provenance else "nothing asked yet")
            return
        table = Table("packet", "from", "finding")
        for p in packets:
            table.add_row(p["id"][:12], p["from"], p["finding"])
        self.console.print(table)

    def _trace(self) -> None:
        if not self.trace:
            self.console.print("nothing asked yet")
            return
        for event in self.trace:
            self.console.print_json(json.dumps(event, default=str))

    async def _reset(self) -> None:
        checkpointer = self.swarm.checkpointer
        if checkpointer is not None:
            await checkpointer.adelete_thread(self.thread)
        self.trace, self.provenance = [], {}
        self.console.print(f"thread {escape(self.thread)} forgotten")


async def chat(
    config: Config,
    console: Console,
    *,
    agents_path: Path | None,
    thread: str,
    data_dir: Path,
    read: Callable[[], str],
) -> None:
    """Chat with the swarm of ``agents_path`` (default: the demo's specialists) until /quit or end of
    input; ``read`` returns the next line and raises EOFError at the end."""
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    chat_model, embedder = make_chat_model(config.llm), make_embedder(config.embedder)
    async with AsyncSqliteSaver.from_conn_string(str(data_dir / "chat-threads.sqlite")) as saver:
        swarm = swarm_of(
            agents_path, chat=chat_model, embedder=embedder, config=config.swarm, data_dir=data_dir
        )
        swarm.checkpointer = saver
        with console.status("starting the swarm"):
            await swarm.start()
        try:
            session = ChatSession(swarm, console, thread, read)
            earlier = await session.history()
            console.print(
                f"[bold]synthswarm chat[/]: {len(swarm.specialists)} specialists, thread {escape(thread)!r}"
                + (f", {len(earlier)} earlier messages" if earlier else "")
                + "; /help for commands"
            )
            for message in earlier[-4:]:
                who = "you" if message.type == "human" else "swarm"
                console.print(f"[dim]{who}: {escape(str(message.content))}[/]")
            try:
                await session.settle()  # a turn an earlier session left waiting for approval
            except SynthswarmError as exc:
                console.print(f"[red]error[/]: {escape(str(exc))}")
            while True:
                try:
                    line = await asyncio.to_thread(read)
                except (EOFError, KeyboardInterrupt):
                    break
                try:
                    if not await session.handle(line):
                        break
                except SynthswarmError as exc:
                    console.print(f"[red]error[/]: {escape(str(exc))}")
        finally:
            await swarm.stop()
            await chat_model.aclose()
