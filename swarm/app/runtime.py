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
import threading
import tomllib
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import zmq.asyncio
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import RetryPolicy
from synthswarm.agents.approval import (
    INTERRUPTS,
    ApprovalRequired,
    Decision,
    PendingApproval,
    pending_of,
    resume_command,
)
from synthswarm.agents.dispatcher import DEFAULT_RETRY, build_dispatcher, conversation
from synthswarm.agents.embeddings import Embedder
from synthswarm.agents.llm import ChatModel
from synthswarm.agents.memory import AgentMemory, Document, check_agent_name
from synthswarm.agents.specialist import DEFAULT_INSTRUCTIONS, Specialist, SpecialistSettings, Turn
from synthswarm.swarm.config import AGENTS_KEY, SwarmConfig, load_config
from synthswarm.swarm.dht import DHTNode, DHTSettings
from synthswarm.swarm.dht.transport import new_context
from synthswarm.swarm.errors import ConfigError, SwarmError
from synthswarm.swarm.identity import Identity
from synthswarm.swarm.packet import OutcomePacket
from synthswarm.swarm.routers import Router, RouterStats, make_router
from synthswarm.swarm.routers.dht import DHTRouter
from synthswarm.swarm.semantic import SemanticHasher
from synthswarm.swarm.tasks import TaskSet
from synthswarm.tools import AnyTool
from synthswarm.tools.mcp_config import MCPServerConfig, mcp_configs

if TYPE_CHECKING:
    from synthswarm.tools.mcp import MCPToolbox

__all__ = ["AgentSpec", "Progress", "Swarm", "SwarmAnswer", "load_agents"]

_T = TypeVar("_T")
#: Called as work advances: (stage, done, total).
Progress = Callable[[str, int, int], None]


#: Seconds between retries of deliveries whose receivers could not be reached.
RETRY_INTERVAL_S = 5.0


@dataclass(frozen=True)
class AgentSpec:
    """One ``[[agents]]`` table of a config file."""

    name: str
    domain: str
    instructions: str = DEFAULT_INSTRUCTIONS
    documents: tuple[str, ...] = ()
    mcp: tuple[MCPServerConfig, ...] = ()
    """MCP servers whose tools the agent gets (an ``mcp`` list of tables, see :mod:`synthswarm.tools.mcp`)."""
    approval: bool = False
    """Whether a person must approve each time the dispatcher asks this agent."""


@dataclass(frozen=True)
class SwarmAnswer:
    """The dispatcher's answer to one question, and how it was reached."""

    question: str
    text: str
    provenance: dict[str, Any]
    """``specialists`` asked, ``packets`` used (id, from, finding), ``agents_used``, ``sources``,
    ``messages`` (routing requests) and ``llm_calls``."""


@dataclass
class _Watch:
    """A listener of :meth:`Swarm.watch`, and the hooks it has on specialists (to remove on stop)."""

    listener: Callable[[dict[str, Any]], None]
    hooks: list[tuple[Specialist, Callable[[OutcomePacket], None]]] = field(default_factory=list)


def load_agents(path: str | Path) -> list[AgentSpec]:
    """The ``[[agents]]`` tables of the TOML file at ``path``. ``documents`` is a list of texts;
    ``files`` a list of text files (relative to the config file), one document per blank-line paragraph."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("config", f"cannot read {path}: {exc}") from exc
    tables = data.get(AGENTS_KEY, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(AGENTS_KEY, "must be an array of tables ([[agents]])", source=f"file {path}")
    return [_agent_spec(t, i, path) for i, t in enumerate(tables)]


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
    ) -> None:
        """``retry``: how the dispatcher retries a specialist that failed (None: once only); its
        last failure is reported in the answer's provenance (``failed``) and the others answer."""
        self.chat = chat
        self.retry = retry
        self.embedder = embedder
        self.config = config or SwarmConfig()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.dispatcher_chat = dispatcher_chat
        self.checkpointer = checkpointer
        """Where the dispatcher keeps each thread's conversation (default: in memory)."""
        self.settings = settings or SpecialistSettings(ask_swarm=self.config.ask_swarm)
        self.specialists: list[Specialist] = []
        self.nodes: list[DHTNode] = []
        self.router: Router | None = None
        self._dispatcher: Any = None
        self._context: zmq.asyncio.Context | None = None
        self._tasks = TaskSet("swarm")
        self._pending: dict[str, list[Document]] = {}
        self._joining: dict[str, asyncio.Task[None]] = {}
        self._turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        """One lock per conversation thread in use (see :meth:`turn`); dropped once nobody waits."""
        """Specialists added to the running swarm, still joining (the dispatcher does not see them yet)."""
        self._nodes_made = 0
        self._watches: list[_Watch] = []
        self._departed: dict[bytes, str] = {}
        """Names of specialists that left: their findings live on in others' inboxes, and provenance
        should still name who wrote them (the dispatcher reads this as it changes)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mcp: MCPToolbox | None = None
        self._mcp_servers: dict[str, tuple[MCPServerConfig, ...]] = {}
        if self.config.router != "dht" and self.config.bootstrap:
            raise ConfigError(
                "swarm.bootstrap", f"only the dht router spans processes, not {self.config.router}"
            )
        for name in ("secure", "advertise"):
            if getattr(self.config, name) and self.config.transport != "tcp":
                raise ConfigError(
                    f"swarm.{name}", "needs swarm.transport = tcp (inproc stays in one process)"
                )

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
        check_agent_name(name)
        memory = (
            AgentMemory.open(self.data_dir, name, self.embedder, inbox_limit=self.config.inbox_limit)
            if self.data_dir is not None
            else AgentMemory.in_memory(self.embedder, inbox_limit=self.config.inbox_limit)
        )
        specialist = Specialist(
            name,
            domain,
            chat=chat or self.chat,
            embedder=self.embedder,
            memory=memory,
            identity=self._identity(name),
            instructions=instructions,
            tools=tools,
            settings=settings or self.settings,
            needs_approval=needs_approval,
        )
        learn = [
            d if isinstance(d, Document) else Document(d, f"{name}:{i}") for i, d in enumerate(documents)
        ]
        return self.add(specialist, documents=learn, mcp=mcp)

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
        if any(s.name == specialist.name for s in self.specialists):
            raise SwarmError(f"two specialists are named {specialist.name!r}")
        self._mcp_servers[specialist.name] = tuple(mcp)
        if self.router is None:
            self.specialists.append(specialist)
            self._pending[specialist.name] = list(documents)
            return specialist
        loop = self._loop
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._admit(specialist, documents)
        else:
            asyncio.run_coroutine_threadsafe(self._admit_and_join(specialist, documents), loop).result()
        return specialist

    async def remove_specialist(self, name: str) -> Specialist:
        """Take a specialist out. On a running swarm the dispatcher stops routing to it at once, its
        reactions stop, and its node leaves the DHT, handing on the records it held (see the module
        docstring for what stays where). Returns the specialist, whose memory is left as it is."""
        specialist = self.specialist(name)
        self._mcp_servers.pop(name, None)
        if self.router is None:
            self.specialists.remove(specialist)
            self._pending.pop(name, None)
            return specialist
        if joining := self._joining.get(name):
            await asyncio.gather(joining, return_exceptions=True)  # its failure was the joiner's to see
        if specialist not in self.specialists:
            return specialist  # it failed to join, and is gone already
        if len(self.specialists) == 1:
            raise SwarmError(f"{name!r} is the swarm's last specialist; stop the swarm instead")
        self.specialists.remove(specialist)
        self._departed[specialist.agent_id] = specialist.name
        await specialist.aclose()
        node = specialist.node
        if node is not None:
            await node.close(handoff=True)
            self.nodes.remove(node)
        return specialist

    async def joined(self) -> None:
        """Wait until every specialist added to the running swarm has joined; raises the first
        failure to join (that specialist is then not in the swarm)."""
        while self._joining:
            name, task = next(iter(self._joining.items()))
            try:
                await asyncio.shield(task)
            finally:
                self._joining.pop(name, None)

    def _admit(self, specialist: Specialist, documents: Sequence[Document]) -> None:
        self.specialists.append(specialist)
        self._joining[specialist.name] = self._tasks.spawn(
            self._join_live(specialist, documents), name=f"join:{specialist.name}"
        )

    async def _admit_and_join(self, specialist: Specialist, documents: Sequence[Document]) -> None:
        self._admit(specialist, documents)
        await self.joined()

    async def _join_live(self, specialist: Specialist, documents: Sequence[Document]) -> None:
        """A specialist added to the running swarm: a node of its own, its documents, its interests
        at the router, its knowledge shared, as :meth:`start` does for the first ones."""
        assert self.router is not None
        node = None
        try:
            await self._open_mcp([specialist])
            node = await self._new_node()
            self.nodes.append(node)
            for watch in self._watches:
                self._hook(watch, specialist)
            await specialist.learn(list(documents))
            await specialist.join(self.router, node)
            if self.config.share_knowledge:
                await specialist.share_knowledge()
        except BaseException:
            self.specialists.remove(specialist)
            if node is not None:
                self.nodes.remove(node)
                await node.close(handoff=False)
            raise

    def specialist(self, name: str) -> Specialist:
        for s in self.specialists:
            if s.name == name:
                return s
        raise SwarmError(f"no specialist named {name!r}; the swarm has {', '.join(self.names) or 'none'}")

    def watch(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``listener`` with a ``{"type": "packet", "id", "kind", "from", "to", "finding"}`` event
        for every packet a specialist of this swarm keeps, those added later included; returns a
        function that stops it."""
        watch = _Watch(listener)
        self._watches.append(watch)
        for specialist in self.specialists:
            self._hook(watch, specialist)

        def stop() -> None:
            if watch in self._watches:
                self._watches.remove(watch)
            for specialist, hook in watch.hooks:
                if hook in specialist.listeners:
                    specialist.listeners.remove(hook)

        return stop

    def _hook(self, watch: _Watch, specialist: Specialist) -> None:
        def hook(packet: OutcomePacket) -> None:
            by_id = {**self._departed, **{s.agent_id: s.name for s in self.specialists}}
            sender = by_id.get(packet.origin, packet.origin.hex()[:12])
            watch.listener(
                {"type": "packet", "id": packet.id.hex(), "kind": str(packet.kind), "from": sender,
                 "to": specialist.name, "finding": packet.finding}
            )  # fmt: skip

        specialist.listeners.append(hook)
        watch.hooks.append((specialist, hook))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specialists]

    # -- running -----------------------------------------------------------------------------------

    async def start(self, *, progress: Progress | None = None) -> Swarm:
        """Start one node per specialist, join the router, learn pending documents, share knowledge."""
        if not self.specialists:
            raise SwarmError("a swarm needs at least one specialist: call add_specialist first")
        if self.router is not None:
            raise SwarmError("the swarm is already running")
        self._loop = asyncio.get_running_loop()
        report = progress or (lambda stage, done, total: None)
        try:
            await self._open_mcp(self.specialists)
            await self._start_nodes(report)
            c = self.config
            hasher = SemanticHasher(self.embedder.dims)
            self.router = make_router(
                c.router, self.nodes, hasher=hasher, m=c.m, gossip_budget=c.gossip_budget
            )
            for i, (specialist, node) in enumerate(zip(self.specialists, self.nodes, strict=True)):
                await specialist.learn(self._pending.pop(specialist.name, []))
                await specialist.join(self.router, node)
                report("join", i + 1, len(self.specialists))
            if self.config.share_knowledge:
                await self.share_knowledge(progress=report)
            if isinstance(self.router, DHTRouter):
                self._tasks.spawn(self._retry_deliveries(self.router), name="retry")
        except BaseException:
            await self.stop()
            raise
        self._dispatcher = build_dispatcher(
            self._routable,
            embedder=self.embedder,
            chat=self.dispatcher_chat,
            fan_out=self.config.fan_out,
            checkpointer=self.checkpointer,
            portal=self._portal,
            names=self._departed,
            retry=self.retry,
        )
        return self

    async def share_knowledge(self, *, progress: Progress | None = None) -> int:
        """Every specialist distills its documents into packets and publishes them; returns packets sent."""
        sent = 0
        for i, specialist in enumerate(self.specialists):
            sent += len(await specialist.share_knowledge())
            if progress:
                progress("share", i + 1, len(self.specialists))
        await self.wait_idle()
        return sent

    async def wait_idle(self) -> None:
        """Wait until no agent is still reacting to a packet (replies and syntheses sent)."""
        while any(s.busy for s in self.specialists):  # a reaction may set off others elsewhere
            await asyncio.gather(*(s.drain() for s in self.specialists))

    def _routable(self) -> list[Specialist]:
        """The specialists the dispatcher may route to now: all but those still joining."""
        return [s for s in self.specialists if s.name not in self._joining]

    async def stop(self) -> None:
        """Stop the agents' work, close every node, release the transport. Safe to call twice."""
        await self._tasks.close()
        self._joining.clear()
        await asyncio.gather(*(s.aclose() for s in self.specialists), return_exceptions=True)
        if (toolbox := self._mcp) is not None:
            for specialist in self.specialists:
                specialist.tools[:] = [t for t in specialist.tools if not toolbox.owns(t)]
            self._mcp = None
            await toolbox.aclose()
        await asyncio.gather(*(n.close(handoff=False) for n in self.nodes), return_exceptions=True)
        self.nodes = []
        self.router = None
        self._dispatcher = None
        if self._context is not None:
            self._context.term()
            self._context = None

    async def _open_mcp(self, specialists: Sequence[Specialist]) -> None:
        """Connect these specialists' MCP servers (each server once for the whole swarm, those a
        specialist added later shares included) and give each its servers' tools."""
        using = [s for s in specialists if self._mcp_servers.get(s.name)]
        if not using:
            return
        from synthswarm.tools.mcp import MCPToolbox, add_tools  # the SDK loads only for swarms that use it

        if self._mcp is None:
            self._mcp = MCPToolbox()
        for s in using:
            add_tools(s.tools, await self._mcp.tools(self._mcp_servers[s.name]), agent=s.name)

    async def _retry_deliveries(self, router: DHTRouter) -> None:
        """Deliveries whose receivers were unreachable (dead, partitioned, busy) are retried now and
        then, so a receiver that comes back gets what it missed."""
        while True:
            await asyncio.sleep(RETRY_INTERVAL_S)
            if len(router.outbox):
                await router.retry_pending()

    async def __aenter__(self) -> Swarm:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def dispatcher(self) -> Any:
        """The compiled LangGraph dispatcher (``invoke``, ``stream``, ``ainvoke``, ``astream``)."""
        if self._dispatcher is None:
            raise SwarmError(
                "the swarm is not running: use `async with swarm:` or `with swarm.background():`"
            )
        return self._dispatcher

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
        async with self.turn(thread_id):
            state = await self.dispatcher.ainvoke(
                {"messages": [*conversation(earlier), ("user", question)]}, config=_thread(thread_id)
            )
        return _answer_of(state, thread_id)

    @asynccontextmanager
    async def turn(self, thread_id: str) -> AsyncIterator[None]:
        """Hold ``thread_id`` for one turn: concurrent turns on one thread (two HTTP requests with
        the same ``user``, two A2A messages in one context) would each read the thread's history
        before the other wrote to it, and one turn would be lost. :meth:`ask` and :meth:`resume`
        take it; so should code that drives :attr:`dispatcher` on a shared thread itself."""
        lock = self._turns.setdefault(thread_id, asyncio.Lock())
        async with lock:
            yield

    async def pending(self, thread_id: str = "default") -> list[PendingApproval]:
        """The approvals ``thread_id`` waits for (none when it is not stopped)."""
        snapshot = await self.dispatcher.aget_state(_thread(thread_id))
        return pending_of(snapshot.interrupts)

    async def resume(
        self, thread_id: str, decision: Decision | bool | dict[str, Decision | bool]
    ) -> SwarmAnswer:
        """Go on with a turn stopped for approval: one decision for every pending approval, or one
        per approval id (:attr:`PendingApproval.id`; one left out stays pending). A denied step is named
        in the answer and in its provenance's ``denied``. May raise ApprovalRequired again, for the
        next step that needs approval."""
        async with self.turn(thread_id):
            command = resume_command(await self.pending(thread_id), decision)
            state = await self.dispatcher.ainvoke(command, config=_thread(thread_id))
        return _answer_of(state, thread_id)

    async def forget(self, thread_id: str) -> None:
        """Drop a conversation thread (its checkpoints) from the dispatcher's memory."""
        checkpointer = self.dispatcher.checkpointer
        if isinstance(checkpointer, BaseCheckpointSaver):
            await checkpointer.adelete_thread(thread_id)

    def stats(self) -> RouterStats:
        if self.router is None:
            raise SwarmError("the swarm is not running")
        return self.router.stats()

    @contextmanager
    def background(self) -> Iterator[Swarm]:
        """Run the swarm on an event loop in a background thread, for synchronous code: inside the
        block, ``swarm.dispatcher.invoke(...)`` and ``.stream(...)`` work as LangGraph documents."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="synthswarm-loop", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
            yield self
        finally:
            try:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
                loop.close()

    def _portal(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the swarm's loop from synchronous code (the dispatcher's ``invoke``)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise SwarmError("the swarm is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise SwarmError("invoke/stream would block the swarm's own loop: use ainvoke/astream here")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def _start_nodes(self, report: Progress) -> None:
        if self.config.transport == "inproc":
            self._context = new_context()
        for i in range(len(self.specialists)):
            self.nodes.append(await self._new_node())
            report("nodes", i + 1, len(self.specialists))

    async def _new_node(self) -> DHTNode:
        """A node joined to the bootstrap addresses, or else to this swarm's first node."""
        c = self.config
        bootstrap = [a.strip() for a in c.bootstrap.split(",") if a.strip()]
        advertise = f"tcp://{c.advertise}:*" if c.advertise else None
        # inproc addresses are never reused: a node added later must not take a left one's address
        n, self._nodes_made = self._nodes_made, self._nodes_made + 1
        listen = f"inproc://swarm-{id(self):x}-{n}" if c.transport == "inproc" else f"tcp://{c.host}:*"
        return await DHTNode.create(
            listen=listen,
            advertise=advertise,
            bootstrap=bootstrap or [n.address for n in self.nodes[:1]],
            context=self._context,
            settings=DHTSettings(secure=c.secure),
        )

    def _identity(self, name: str) -> Identity:
        if self.data_dir is None:
            return Identity.generate()
        path = self.data_dir / "keys" / f"{name}.key"
        if path.exists():
            return Identity.load(path)
        identity = Identity.generate()
        identity.save(path)
        return identity


def _thread(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _answer_of(state: dict[str, Any], thread_id: str) -> SwarmAnswer:
    """The answer in a finished turn's state; ApprovalRequired for one stopped for approval."""
    if state.get(INTERRUPTS):
        raise ApprovalRequired(thread_id, pending_of(state[INTERRUPTS]))
    return SwarmAnswer(state["question"], state["answer"], state["provenance"])


def _agent_spec(table: dict[str, Any], index: int, path: Path) -> AgentSpec:
    where = f"file {path}"

    def text(key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"agents[{index}].{key}", "must be a non-empty string", source=where)
        return value

    unknown = sorted(set(table) - {"name", "domain", "instructions", "documents", "files", "mcp", "approval"})
    if unknown:
        raise ConfigError(f"agents[{index}].{unknown[0]}", "unknown setting", source=where)
    documents = table.get("documents", [])
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise ConfigError(f"agents[{index}].documents", "must be a list of strings", source=where)
    files = table.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"agents[{index}].files", "must be a list of paths", source=where)
    for name in files:
        file = (path.parent / name).expanduser()
        try:
            paragraphs = [p.strip() for p in file.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        except OSError as exc:
            raise ConfigError(
                f"agents[{index}].files", f"cannot read {file}: {exc.strerror}", source=where
            ) from exc
        documents = [*documents, *paragraphs]
    return AgentSpec(
        name=check_agent_name(text("name")),
        domain=text("domain"),
        instructions=text("instructions", DEFAULT_INSTRUCTIONS),
        documents=tuple(documents),
        mcp=mcp_configs(table.get("mcp", []), f"agents[{index}].mcp", source=where),
        approval=_flag(table, "approval", index, where),
    )


def _flag(table: dict[str, Any], key: str, index: int, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"agents[{index}].{key}", "must be true or false", source=where)
    return value
