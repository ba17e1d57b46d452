"""Swarm: compose specialists, DHT nodes, a router and the dispatcher, and run them.

::

    swarm = Swarm(chat=LocalChat.from_path(), embedder=LocalEmbedder())
    swarm.add_specialist("botany", "plants and who found them", documents=[...])
    async with swarm:                      # nodes up, agents subscribed, knowledge shared
        answer = await swarm.ask("...")    # through the dispatcher graph

Each specialist lives on its own DHT node. With ``transport="inproc"`` the nodes stay in this process;
with ``"tcp"`` they bind ephemeral ports, and a swarm started with ``bootstrap`` addresses (a
``synthswarm node``, or a node of another swarm process) joins the others: agents anywhere then reach
each other through the ``dht`` router. The baselines keep their subscriber lists in this process, so
they only span one process.

A running swarm can change: :meth:`Swarm.add_specialist` gives a new specialist a node that joins the
DHT, learns its documents, subscribes its interests and shares its knowledge, and the dispatcher routes
to it once that is done (:meth:`Swarm.ask` waits for it). :meth:`Swarm.remove_specialist` takes one out:
the dispatcher stops routing to it at once, its reactions stop, and its node leaves the DHT, handing
the records it held (other agents' subscriptions, stored values) to the nodes now closest to them. Its
own subscription rows are soft state: no longer re-announced, they expire at their rendezvous. The
findings it published stay with the agents that received them (their inboxes), and its memory stays on
disk under ``data_dir``, so adding it again brings its knowledge back. A question in flight when its
specialist leaves gets that specialist's answer if it finishes, or reports it as failed.

A step that needs approval stops :meth:`Swarm.ask` with :class:`~synthswarm.agents.approval.ApprovalRequired`;
:meth:`Swarm.resume` goes on with a person's decision (see :mod:`synthswarm.agents.approval`).

With a ``data_dir`` every agent keeps its knowledge and inbox in Chroma under ``data_dir/chroma`` and
its key under ``data_dir/keys``, so a restarted swarm has the memories and identities it had.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import RetryPolicy

from synthswarm.agents.approval import Decision, PendingApproval
from synthswarm.agents.dispatcher import DEFAULT_RETRY
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.memory import Document
from synthswarm.agents.specialist import DEFAULT_INSTRUCTIONS, Specialist, SpecialistSettings, Turn
from synthswarm.agents.synthesis import SynthesisSettings
from synthswarm.swarm.app._runtime import asking, lifecycle
from synthswarm.swarm.app._runtime.asking import SwarmAnswer, Turns
from synthswarm.swarm.app._runtime.lifecycle import RETRY_INTERVAL_S, Progress
from synthswarm.swarm.app._runtime.loop import in_background, portal
from synthswarm.swarm.app._runtime.making import documents_of, make_specialist
from synthswarm.swarm.app._runtime.membership import Members
from synthswarm.swarm.app._runtime.network import NodeFactory, check_config
from synthswarm.swarm.app._runtime.parts import SwarmParts
from synthswarm.swarm.app._runtime.specs import AgentSpec, load_agents
from synthswarm.swarm.app._runtime.tools import SwarmTools
from synthswarm.swarm.app._runtime.watching import Listener, Watchers
from synthswarm.swarm.config import SwarmConfig, load_config
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.errors import SwarmError
from synthswarm.swarm.routers import Router, RouterStats
from synthswarm.tools import AnyTool
from synthswarm.tools.mcp_config import MCPServerConfig

__all__ = ["RETRY_INTERVAL_S", "AgentSpec", "Progress", "Swarm", "SwarmAnswer", "load_agents"]

_T = TypeVar("_T")


class Swarm:
    """Specialists on DHT nodes, joined by one router, in front of one dispatcher."""

    def __init__(
        self,
        *,
        chat: ChatModel,
        embedder: Embedder,
        config: SwarmConfig | None = None,
        data_dir: str | Path | None = None,
        dispatcher_chat: ChatModel | None = None,
        settings: SpecialistSettings | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        synthesis: SynthesisSettings | None = None,
    ) -> None:
        """``retry``: how the dispatcher retries a specialist that failed (None: once only); its
        last failure is reported in the answer's provenance (``failed``) and the others answer.
        ``synthesis``: the synthesis bounds every specialist made here shares (default: the entity
        source of ``config.entities``, spaCy unless set otherwise)."""
        self.chat = chat
        self.retry = retry
        self.embedder = embedder
        self.config = config or SwarmConfig()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.dispatcher_chat = dispatcher_chat
        self.checkpointer = checkpointer
        """Where the dispatcher keeps each thread's conversation (default: in memory)."""
        self.settings = settings or SpecialistSettings(ask_swarm=self.config.ask_swarm)
        self._parts = SwarmParts()
        self._network = NodeFactory(id(self))
        self._tools = SwarmTools()
        self._watchers = Watchers(self._parts)
        self._members = Members(
            self._parts, network=self._network, tools=self._tools, watchers=self._watchers
        )
        self._turns = Turns()
        """One lock per conversation thread in use (see :meth:`turn`)."""
        check_config(self.config)
        self.synthesis = synthesis or SynthesisSettings(entities=self.config.entities)
        """Shared by the specialists :meth:`add_specialist` makes, so spaCy loads once per swarm (lazily,
        at the first link) and each packet's entities are found once."""

    @classmethod
    def from_config_file(
        cls, path: str | Path, *, chat: ChatModel, embedder: Embedder, config: SwarmConfig | None = None,
        data_dir: str | Path | None = None,
    ) -> Swarm:  # fmt: skip
        """A swarm with the ``[[agents]]`` of the TOML file at ``path`` (see :func:`load_agents`) and,
        unless ``config`` is given, its ``[swarm]`` settings (with ``SYNTHSWARM_SWARM__*`` overrides)."""
        if config is None:
            config = load_config(file=Path(path)).swarm
        swarm = cls(chat=chat, embedder=embedder, config=config, data_dir=data_dir)
        for spec in load_agents(path):
            swarm.add_specialist(
                spec.name,
                spec.domain,
                instructions=spec.instructions,
                documents=spec.documents,
                mcp=spec.mcp,
                needs_approval=spec.approval,
            )
        return swarm

    @property
    def specialists(self) -> list[Specialist]:
        return self._parts.specialists

    @property
    def nodes(self) -> list[DHTNode]:
        return self._parts.nodes

    @property
    def router(self) -> Router | None:
        """The router joining the specialists, while the swarm runs."""
        return self._parts.router

    # -- composing ---------------------------------------------------------------------------------

    def add_specialist(
        self,
        name: str,
        domain: str,
        *,
        documents: Sequence[str | Document] = (),
        instructions: str = DEFAULT_INSTRUCTIONS,
        tools: Sequence[AnyTool] = (),
        chat: ChatModel | None = None,
        settings: SpecialistSettings | None = None,
        mcp: Sequence[MCPServerConfig] = (),
        needs_approval: bool = False,
    ) -> Specialist:
        """Make a specialist with this swarm's models and memory; ``documents`` are learnt on start
        (see :meth:`add` for a running swarm). ``mcp``: servers whose tools it gets, connected when
        it starts or joins and closed on :meth:`stop`. With ``needs_approval`` a person approves each
        time the dispatcher asks it."""
        specialist = make_specialist(
            name,
            domain,
            chat=chat or self.chat,
            embedder=self.embedder,
            data_dir=self.data_dir,
            inbox_limit=self.config.inbox_limit,
            instructions=instructions,
            tools=tools,
            settings=settings or self.settings,
            synthesis=self.synthesis,
            needs_approval=needs_approval,
        )
        return self.add(specialist, documents=documents_of(name, documents), mcp=mcp)

    def add(
        self,
        specialist: Specialist,
        *,
        documents: Sequence[Document] = (),
        mcp: Sequence[MCPServerConfig] = (),
    ) -> Specialist:
        """Add a specialist built elsewhere; ``documents`` are learnt when it joins, and the tools of
        the ``mcp`` servers are added to its own then.

        On a running swarm it joins at once: from the swarm's own loop the joining runs as a task
        (:meth:`joined` waits for it, and so does :meth:`ask`); from another thread (a swarm run
        with :meth:`background`) this returns once it has joined."""
        self._members.add(specialist, documents, mcp, self.config)
        return specialist

    async def remove_specialist(self, name: str) -> Specialist:
        """Take a specialist out. On a running swarm the dispatcher stops routing to it at once, its
        reactions stop, and its node leaves the DHT, handing on the records it held (see the module
        docstring for what stays where). Returns the specialist, whose memory is left as it is."""
        return await self._members.remove(name)

    async def joined(self) -> None:
        """Wait until every specialist added to the running swarm has joined; raises the first
        failure to join (that specialist is then not in the swarm)."""
        await self._members.joined()

    def specialist(self, name: str) -> Specialist:
        return self._parts.specialist(name)

    def watch(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with a ``{"type": "packet", "id", "kind", "from", "to", "finding"}`` event
        for every packet a specialist of this swarm keeps, those added later included; returns a
        function that stops it."""
        return self._watchers.watch(listener)

    @property
    def names(self) -> list[str]:
        return self._parts.names

    # -- running -----------------------------------------------------------------------------------

    async def start(self, *, progress: Progress | None = None) -> Swarm:
        """Start one node per specialist, join the router, learn pending documents, share knowledge."""
        lifecycle.check_startable(self._parts)
        self._parts.loop = asyncio.get_running_loop()
        report = progress or (lambda stage, done, total: None)
        try:
            await lifecycle.start(
                self._parts,
                config=self.config,
                embedder=self.embedder,
                network=self._network,
                tools=self._tools,
                report=report,
            )
        except BaseException:
            await self.stop()
            raise
        self._parts.dispatcher = asking.build(
            self._parts,
            config=self.config,
            embedder=self.embedder,
            chat=self.dispatcher_chat,
            checkpointer=self.checkpointer,
            retry=self.retry,
            portal=self._portal,
        )
        return self

    async def share_knowledge(self, *, progress: Progress | None = None) -> int:
        """Every specialist distills its documents into packets and publishes them; returns packets sent."""
        return await lifecycle.share_knowledge(self.specialists, progress=progress)

    async def wait_idle(self) -> None:
        """Wait until no agent is still reacting to a packet (replies and syntheses sent)."""
        await lifecycle.wait_idle(self.specialists)

    async def stop(self) -> None:
        """Stop the agents' work, close every node, release the transport. Safe to call twice."""
        await lifecycle.stop(self._parts, network=self._network, tools=self._tools)

    async def __aenter__(self) -> Swarm:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def dispatcher(self) -> Any:
        """The compiled LangGraph dispatcher (``invoke``, ``stream``, ``ainvoke``, ``astream``)."""
        if self._parts.dispatcher is None:
            raise SwarmError(
                "the swarm is not running: use `async with swarm:` or `with swarm.background():`"
            )
        return self._parts.dispatcher

    async def ask(
        self, question: str, *, thread_id: str = "default", earlier: Sequence[Turn] = ()
    ) -> SwarmAnswer:
        """Ask the dispatcher; the conversation continues on ``thread_id``. ``earlier`` are turns to
        put before the question (a client that keeps the conversation itself, as OpenAI clients do),
        added to the thread like the ones it holds. A follow-up ("and where was he born?") is
        answered with the turns before it.

        Raises :class:`~synthswarm.agents.approval.ApprovalRequired` when a step needs a person's approval:
        :meth:`resume` then goes on with the decision."""
        await self.joined()
        return await asking.ask(self, self._turns, question, thread_id=thread_id, earlier=earlier)

    def turn(self, thread_id: str) -> AbstractAsyncContextManager[None]:
        """Hold ``thread_id`` for one turn: concurrent turns on one thread (two HTTP requests with
        the same ``user``, two A2A messages in one context) would each read the thread's history
        before the other wrote to it, and one turn would be lost. :meth:`ask` and :meth:`resume`
        take it; so should code that drives :attr:`dispatcher` on a shared thread itself."""
        return self._turns.hold(thread_id)

    async def pending(self, thread_id: str = "default") -> list[PendingApproval]:
        """The approvals ``thread_id`` waits for (none when it is not stopped)."""
        return await asking.pending(self, thread_id)

    async def resume(
        self, thread_id: str, decision: Decision | bool | dict[str, Decision | bool]
    ) -> SwarmAnswer:
        """Go on with a turn stopped for approval: one decision for every pending approval, or one
        per approval id (:attr:`PendingApproval.id`; one left out stays pending). A denied step is named
        in the answer and in its provenance's ``denied``. May raise ApprovalRequired again, for the
        next step that needs approval."""
        return await asking.resume(self, self._turns, thread_id, decision)

    async def forget(self, thread_id: str) -> None:
        """Drop a conversation thread (its checkpoints) from the dispatcher's memory."""
        await asking.forget(self, thread_id)

    def stats(self) -> RouterStats:
        if self.router is None:
            raise SwarmError("the swarm is not running")
        return self.router.stats()

    @contextmanager
    def background(self) -> Iterator[Swarm]:
        """Run the swarm on an event loop in a background thread, for synchronous code: inside the
        block, ``swarm.dispatcher.invoke(...)`` and ``.stream(...)`` work as LangGraph documents."""
        with in_background(self.start, self.stop):
            yield self

    def _portal(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the swarm's loop from synchronous code (the dispatcher's ``invoke``)."""
        return portal(self._parts.loop, coro)
