"""The state a swarm's jobs share: its specialists, their nodes, the router and dispatcher, and the
tasks that run while it does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from synthswarm.agents.memory import Document
from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.dht import DHTNode
from synthswarm.swarm.errors import SwarmError
from synthswarm.swarm.routers import Router
from synthswarm.swarm.tasks import TaskSet

__all__ = ["SwarmParts"]


@dataclass(eq=False)
class SwarmParts:
    """One swarm's specialists and what runs them; ``router`` is set while the swarm runs."""

    specialists: list[Specialist] = field(default_factory=list)
    nodes: list[DHTNode] = field(default_factory=list)
    router: Router | None = None
    dispatcher: Any = None
    """The compiled dispatcher graph, while the swarm runs."""
    pending: dict[str, list[Document]] = field(default_factory=dict)
    """Documents of specialists added before start, learnt on start."""
    joining: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    """Specialists added to the running swarm, still joining (the dispatcher does not see them yet)."""
    departed: dict[bytes, str] = field(default_factory=dict)
    """Names of specialists that left: their findings live on in others' inboxes, and provenance
    should still name who wrote them (the dispatcher reads this as it changes)."""
    loop: asyncio.AbstractEventLoop | None = None
    """The loop the swarm was started on."""
    tasks: TaskSet = field(default_factory=lambda: TaskSet("swarm"))

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specialists]

    def specialist(self, name: str) -> Specialist:
        for s in self.specialists:
            if s.name == name:
                return s
        raise SwarmError(f"no specialist named {name!r}; the swarm has {', '.join(self.names) or 'none'}")

    def routable(self) -> list[Specialist]:
        """The specialists the dispatcher may route to now: all but those still joining."""
        return [s for s in self.specialists if s.name not in self.joining]
