"""The MCP servers of a swarm's specialists: each server connected once for the whole swarm, its tools
given to the specialists that name it, and all closed when the swarm stops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from synthswarm.agents.specialist import Specialist
from synthswarm.tools.mcp_config import MCPServerConfig

if TYPE_CHECKING:
    from synthswarm.tools.mcp import MCPToolbox

__all__ = ["SwarmTools"]


class SwarmTools:
    """Which MCP servers each specialist uses, and the one toolbox connected to them while the swarm runs."""

    def __init__(self) -> None:
        self.servers: dict[str, tuple[MCPServerConfig, ...]] = {}
        """Each specialist's servers, by name."""
        self._toolbox: MCPToolbox | None = None

    async def open(self, specialists: Sequence[Specialist]) -> None:
        """Connect these specialists' MCP servers (each server once for the whole swarm, those a
        specialist added later shares included) and give each its servers' tools."""
        using = [s for s in specialists if self.servers.get(s.name)]
        if not using:
            return
        from synthswarm.tools.mcp import MCPToolbox, add_tools  # the SDK loads only for swarms that use it

        if self._toolbox is None:
            self._toolbox = MCPToolbox()
        for s in using:
            add_tools(s.tools, await self._toolbox.tools(self.servers[s.name]), agent=s.name)

    async def close(self, specialists: Sequence[Specialist]) -> None:
        """Take the servers' tools from the specialists again, and close the servers."""
        if (toolbox := self._toolbox) is None:
            return
        for specialist in specialists:
            specialist.tools[:] = [t for t in specialist.tools if not toolbox.owns(t)]
        self._toolbox = None
        await toolbox.aclose()
