"""A small MCP server of the tests' own, run over stdio: ``python mcp_observatory.py``.

``founding_year`` answers from a table this process holds, and says which process answered, so a
test can tell the reply came from here; ``crash`` ends the process, as a dying server would.
"""

from __future__ import annotations

import os
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

YEARS = {"Veltmar": 1874, "Orrin": 1902}

server: MCPServer[Any] = MCPServer("observatory")


@server.tool()
def founding_year(observatory: str) -> str:
    """The year an observatory was founded, and the process that looked it up."""
    if observatory not in YEARS:
        raise ToolError(f"no observatory named {observatory}")
    return f"{YEARS[observatory]} (pid {os.getpid()})"


@server.tool()
def crash() -> str:
    """End this server's process at once."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
