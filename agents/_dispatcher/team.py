"""The specialists a dispatcher routes among: those there now, by name, and the names provenance gives
every agent (a running swarm may gain or lose specialists between turns)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synthswarm.agents.specialist import Specialist
from synthswarm.swarm.errors import SwarmError

__all__ = ["Team"]


class Team:
    """The current specialists, from ``current``; ``names`` names agents elsewhere (the caller's own
    dict, which it may add to later)."""

    def __init__(
        self, current: Callable[[], Sequence[Specialist]], names: dict[bytes, str], entry: str | None = None
    ) -> None:
        self.current = current
        self._other_names = names
        self._entry = entry
        _ = self.by_name  # names must be unique from the start, not only when first asked
        if entry is not None and entry not in self.by_name:
            raise SwarmError(f"the entry specialist {entry!r} is not in the team")

    @property
    def by_name(self) -> dict[str, Specialist]:
        """The specialists there now."""
        specialists = self.current()
        by_name = {s.name: s for s in specialists}
        if len(by_name) != len(specialists):
            raise SwarmError("specialist names must be unique")
        return by_name

    @property
    def entry(self) -> Specialist:
        """The specialist whose node questions enter the swarm at (the entry step of
        :mod:`synthswarm.agents.entry`): the one named, else the first there now."""
        specialists = self.current()
        if not specialists:
            raise SwarmError("the swarm has no specialists left to ask")
        named = self.by_name.get(self._entry) if self._entry is not None else None
        return named or specialists[0]

    @property
    def names(self) -> dict[bytes, str]:
        # Agents that left keep their names from ``names`` only; their packets name them by id.
        return {**self._other_names, **{s.agent_id: s.name for s in self.current()}}
