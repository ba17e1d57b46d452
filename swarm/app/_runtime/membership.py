"""Who is in a swarm: specialists added before it starts, or while it runs (each joining on a node of
its own), and specialists taken out again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from synthswarm.agents.entry import serve_handoffs
from synthswarm.agents.memory import Document
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.app._runtime.loop import on_loop
from synthswarm.swarm.app._runtime.network import NodeFactory
from synthswarm.swarm.app._runtime.parts import SwarmParts
from synthswarm.swarm.app._runtime.tools import SwarmTools
from synthswarm.swarm.app._runtime.watching import Watchers
from synthswarm.swarm.config import SwarmConfig
from synthswarm.swarm.errors import SwarmError
from synthswarm.tools.mcp_config import MCPServerConfig

__all__ = ["Members"]


class Members:
    """Adds specialists to one swarm and removes them, as :meth:`Swarm.add` and
    :meth:`Swarm.remove_specialist` document."""

    def __init__(
        self, parts: SwarmParts, *, network: NodeFactory, tools: SwarmTools, watchers: Watchers
    ) -> None:
        self._parts = parts
        self._network = network
        self._tools = tools
        self._watchers = watchers

    def add(
        self, specialist: Specialist, documents: Sequence[Document], mcp: Sequence[MCPServerConfig],
        config: SwarmConfig,
    ) -> None:  # fmt: skip
        """Before start: kept with its documents for :func:`lifecycle.start`. On a running swarm: joins
        as a task from the swarm's loop, or before this returns from another thread."""
        parts = self._parts
        if any(s.name == specialist.name for s in parts.specialists):
            raise SwarmError(f"two specialists are named {specialist.name!r}")
        self._tools.servers[specialist.name] = tuple(mcp)
        if parts.router is None:
            parts.specialists.append(specialist)
            parts.pending[specialist.name] = list(documents)
            return
        loop = parts.loop
        assert loop is not None
        if on_loop(loop):
            self._admit(specialist, documents, config)
        else:
            joining = self._admit_and_join(specialist, documents, config)
            asyncio.run_coroutine_threadsafe(joining, loop).result()

    async def remove(self, name: str) -> Specialist:
        """Take a specialist out; on a running swarm it withdraws its subscriptions (no packet is
        delivered to it afterwards) and its node leaves the DHT, handing on the records it held."""
        parts = self._parts
        specialist = parts.specialist(name)
        self._tools.servers.pop(name, None)
        if parts.router is None:
            parts.specialists.remove(specialist)
            parts.pending.pop(name, None)
            return specialist
        if joining := parts.joining.get(name):
            await asyncio.gather(joining, return_exceptions=True)  # its failure was the joiner's to see
        if specialist not in parts.specialists:
            return specialist  # it failed to join, and is gone already
        if len(parts.specialists) == 1:
            raise SwarmError(f"{name!r} is the swarm's last specialist; stop the swarm instead")
        parts.specialists.remove(specialist)
        parts.departed[specialist.agent_id] = specialist.name
        await specialist.leave()
        await specialist.aclose()
        node = specialist.node
        if node is not None:
            await node.close(handoff=True)
            parts.nodes.remove(node)
        return specialist

    async def joined(self) -> None:
        """Wait until every specialist added to the running swarm has joined; raises the first
        failure to join (that specialist is then not in the swarm)."""
        joining = self._parts.joining
        while joining:
            name, task = next(iter(joining.items()))
            try:
                await asyncio.shield(task)
            finally:
                joining.pop(name, None)

    def _admit(self, specialist: Specialist, documents: Sequence[Document], config: SwarmConfig) -> None:
        parts = self._parts
        parts.specialists.append(specialist)
        parts.joining[specialist.name] = parts.tasks.spawn(
            self._join_live(specialist, documents, config), name=f"join:{specialist.name}"
        )

    async def _admit_and_join(
        self, specialist: Specialist, documents: Sequence[Document], config: SwarmConfig
    ) -> None:
        self._admit(specialist, documents, config)
        await self.joined()

    async def _join_live(
        self, specialist: Specialist, documents: Sequence[Document], config: SwarmConfig
    ) -> None:
        """A specialist added to the running swarm: a node of its own, its documents, its interests
        at the router, its knowledge shared, as the first ones get on start."""
        parts = self._parts
        assert parts.router is not None
        node = None
        try:
            await self._tools.open([specialist])
            node = await self._network.new_node(config, parts.nodes)
            parts.nodes.append(node)
            self._watchers.hook(specialist)
            await specialist.learn(list(documents))
            await specialist.join(parts.router, node)
            serve_handoffs(specialist)  # a dispatcher elsewhere may hand it questions
            if config.share_knowledge:
                await specialist.share_knowledge()
        except BaseException:
            parts.specialists.remove(specialist)
            if node is not None:
                parts.nodes.remove(node)
                await node.close(handoff=False)
            raise
