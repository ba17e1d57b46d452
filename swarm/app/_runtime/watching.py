"""Watching a swarm: listeners called with an event for every packet one of its specialists keeps,
specialists added later included."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.app._runtime.parts import SwarmParts
from synthswarm.swarm.packet import OutcomePacket

__all__ = ["Listener", "Watchers"]

#: Called with a ``{"type": "packet", "id", "kind", "from", "to", "finding"}`` event.
Listener = Callable[[dict[str, Any]], None]


@dataclass
class _Watch:
    """A listener, and the hooks it has on specialists (to remove when it stops)."""

    listener: Listener
    hooks: list[tuple[Specialist, Callable[[OutcomePacket], None]]] = field(default_factory=list)


class Watchers:
    """The listeners of one swarm, hooked on each of its specialists."""

    def __init__(self, parts: SwarmParts) -> None:
        self._parts = parts
        self._watches: list[_Watch] = []

    def watch(self, listener: Listener) -> Callable[[], None]:
        """Hook ``listener`` on every specialist, now and later; returns a function that stops it."""
        watch = _Watch(listener)
        self._watches.append(watch)
        for specialist in self._parts.specialists:
            self._hook(watch, specialist)

        def stop() -> None:
            if watch in self._watches:
                self._watches.remove(watch)
            for specialist, hook in watch.hooks:
                if hook in specialist.listeners:
                    specialist.listeners.remove(hook)

        return stop

    def hook(self, specialist: Specialist) -> None:
        """Hook every listener on a specialist that joins."""
        for watch in self._watches:
            self._hook(watch, specialist)

    def _hook(self, watch: _Watch, specialist: Specialist) -> None:
        parts = self._parts

        def hook(packet: OutcomePacket) -> None:
            by_id = {**parts.departed, **{s.agent_id: s.name for s in parts.specialists}}
            sender = by_id.get(packet.origin, packet.origin.hex()[:12])
            watch.listener(
                {"type": "packet", "id": packet.id.hex(), "kind": str(packet.kind), "from": sender,
                 "to": specialist.name, "finding": packet.finding}
            )  # fmt: skip

        specialist.listeners.append(hook)
        watch.hooks.append((specialist, hook))
