"""The tools of MCP servers as :class:`~tools.Tool` objects, through the official ``mcp`` SDK.

::

    calc = MCPServerConfig(name="calc", command="python", args=("calc_server.py",))  # stdio
    docs = MCPServerConfig(name="docs", url="http://127.0.0.1:8931/mcp")            # streamable HTTP
    async with MCPToolbox() as toolbox:
        tools = await toolbox.tools([calc, docs])       # each server opened once, its tools listed
        print(await tools[0].call({"a": 1, "b": 2}))

- :class:`MCPServerConfig` (from :mod:`synthswarm.tools.mcp_config`) says how to reach one server (a command
  over stdio, a URL over streamable HTTP, or an in-process ``MCPServer``), which of its tools to
  take, and a name prefix.
- :class:`MCPConnection` is one open client session. The SDK's session lives in anyio task groups,
  which must be entered and left by the same task, while a swarm may start in one task and stop in
  another; so each connection runs its session in a task of its own and calls are sent through it.
- :class:`MCPToolbox` opens each distinct server once, and closes them all (subprocesses included).

Failures are the project's errors: a server that cannot be started or reached, or that lacks a tool
named in ``tools``, raises :class:`~synthswarm.swarm.errors.ConfigError` naming it; a call that fails, times
out or finds the server dead raises :class:`~synthswarm.swarm.errors.ToolError`, whose message the agent hands
to its model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, ContentBlock
from mcp_types import Tool as RemoteTool

from synthswarm.swarm.errors import ConfigError, ToolError
from synthswarm.tools._tool import MAX_RESULT_CHARS, Tool, parse_arguments
from synthswarm.tools.mcp_config import MCPServerConfig, mcp_configs

__all__ = ["MCPConnection", "MCPServerConfig", "MCPTool", "MCPToolbox", "add_tools", "mcp_configs"]

log = logging.getLogger(__name__)

#: Seconds beyond a server's timeout that closing waits before cancelling its session outright.
_CLOSE_GRACE_S = 10.0


@dataclass(frozen=True)
class MCPTool(Tool):
    """A tool of an MCP server. Its arguments are checked by the server, against its own schema (richer
    than the types :func:`tools.tool` describes), and its failures come back as :class:`ToolError`."""

    connection: MCPConnection | None = None
    remote_name: str = ""
    """The tool's name on its server (``name`` carries the prefix)."""

    async def call(self, arguments: str | Mapping[str, object]) -> str:
        if self.connection is None:
            raise ToolError(f"{self.name}: not connected to an MCP server")
        return await self.connection.call(
            self.remote_name, parse_arguments(arguments, self.name), as_name=self.name
        )


class MCPConnection:
    """An open client session to one MCP server. Make one with :meth:`open`; :meth:`aclose` ends it."""

    def __init__(self, config: MCPServerConfig) -> None:
        self.config = config
        self.tools: list[MCPTool] = []
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()

    @classmethod
    async def open(cls, config: MCPServerConfig) -> MCPConnection:
        """Start or reach the server, hold a session open, and list its tools."""
        connection = cls(config)
        try:
            await connection._connect()
            connection.tools = await connection._list_tools()
        except BaseException:
            await connection.aclose()
            raise
        return connection

    @property
    def alive(self) -> bool:
        return self._client is not None and self._task is not None and not self._task.done()

    async def call(self, tool: str, arguments: dict[str, object], *, as_name: str | None = None) -> str:
        """Call ``tool`` on the server; its content as text (structured content as JSON when that is all)."""
        label = as_name or tool
        client = self._client
        if client is None or not self.alive:
            raise ToolError(
                f"{label}: the MCP server {self.config.name!r} is not running ({self._why_down()})"
            )
        try:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=self.config.timeout_s)
        except MCPError as exc:
            raise ToolError(f"{label}: the MCP server {self.config.name!r} {_mcp_failure(exc)}") from exc
        except Exception as exc:  # a dead server surfaces as closed streams, broken pipes, HTTP errors
            reason = _reason(exc) if self.alive else self._why_down()
            raise ToolError(f"{label}: the MCP server {self.config.name!r} failed: {reason}") from exc
        text = _text(result)
        if result.is_error:
            raise ToolError(f"{label}: {text or 'the MCP server reported an error'}")
        return text[:MAX_RESULT_CHARS]

    async def aclose(self) -> None:
        """End the session (a stdio server's process is stopped); safe to call twice."""
        self._closing.set()
        task, self._task = self._task, None
        if task is not None:
            if not self._ready.is_set():  # stuck connecting: it would never see the closing event
                task.cancel()
            # The SDK bounds its own shutdown (a stdio server is killed after a few seconds); the
            # grace on top only guards against a transport that hangs anyway.
            done, _ = await asyncio.wait({task}, timeout=self.config.timeout_s + _CLOSE_GRACE_S)
            if not done:
                task.cancel()
            with contextlib.suppress(BaseException):  # why it ended was reported while it ran
                await task
        self._client = None

    async def _connect(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._hold(), name=f"mcp:{self.config.name}")
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            done, _ = await asyncio.wait({ready, self._task}, timeout=self.config.timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready
        if self._ready.is_set():
            return
        reason = self._why_down() if self._task in done else f"no answer within {self.config.timeout_s:g} s"
        raise ConfigError(f"mcp.{self.config.name}", f"cannot connect to {self.config.describe()}: {reason}")

    async def _hold(self) -> None:
        """The session's own task: enter the client, wait until closing, leave it (same task)."""
        async with contextlib.AsyncExitStack() as stack:
            client = Client(await self._target(stack), read_timeout_seconds=self.config.timeout_s)
            self._client = await stack.enter_async_context(client)
            self._ready.set()
            await self._closing.wait()

    async def _target(self, stack: contextlib.AsyncExitStack) -> Any:
        c = self.config
        if c.server is not None:
            return c.server
        if c.command is not None:
            return StdioServerParameters(
                command=c.command, args=list(c.args), env=dict(c.env) or None, cwd=c.cwd
            )
        assert c.url is not None
        if not c.headers:
            return c.url
        http = await stack.enter_async_context(httpx2.AsyncClient(headers=dict(c.headers)))
        return streamable_http_client(c.url, http_client=http)

    async def _list_tools(self) -> list[MCPTool]:
        assert self._client is not None
        remote: list[RemoteTool] = []
        cursor: str | None = None
        while True:
            page = await self._client.list_tools(cursor=cursor)
            remote.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        names = {t.name for t in remote}
        wanted = self.config.tools
        missing = sorted(set(wanted or ()) - names)
        if missing:
            raise ConfigError(
                f"mcp.{self.config.name}.tools",
                f"the server has no tool {', '.join(missing)}; it has {', '.join(sorted(names)) or 'none'}",
            )
        return [self._tool(t) for t in remote if wanted is None or t.name in wanted]

    def _tool(self, remote: RemoteTool) -> MCPTool:
        parameters: dict[str, object] = {"type": "object", "properties": {}, **remote.input_schema}
        description = remote.description or remote.title or f"The {remote.name} tool of {self.config.name}."

        async def run(**arguments: object) -> str:
            return await self.call(remote.name, dict(arguments), as_name=self.config.prefix + remote.name)

        return MCPTool(
            self.config.prefix + remote.name,
            description,
            parameters,
            run,
            connection=self,
            remote_name=remote.name,
        )

    def _why_down(self) -> str:
        task = self._task
        if task is None or not task.done():
            return "it is closed" if task is None else "it is still starting"
        if task.cancelled():
            return "its session was cancelled"
        exc = task.exception()
        return _reason(exc) if exc is not None else "its session ended"


class MCPToolbox:
    """The MCP connections of one owner (a swarm): each distinct server opened once, all closed together."""

    def __init__(self) -> None:
        self._connections: dict[MCPServerConfig, MCPConnection] = {}

    async def tools(self, configs: Sequence[MCPServerConfig]) -> list[MCPTool]:
        """The tools of these servers, opening those not open yet."""
        tools: list[MCPTool] = []
        for config in configs:
            if config not in self._connections:
                self._connections[config] = await MCPConnection.open(config)
                log.info("MCP server %s (%s): %d tools", config.name, config.describe(),
                         len(self._connections[config].tools))  # fmt: skip
            tools.extend(self._connections[config].tools)
        return tools

    def owns(self, tool: Tool) -> bool:
        return isinstance(tool, MCPTool) and any(tool.connection is c for c in self._connections.values())

    async def aclose(self) -> None:
        connections = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(c.aclose() for c in connections))

    async def __aenter__(self) -> MCPToolbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def add_tools(tools: list[Tool], new: Sequence[MCPTool], *, agent: str) -> None:
    """Append ``new`` to an agent's ``tools``. A name already taken would shadow a tool (an agent calls
    the first tool of a name), so it is an error naming the fix."""
    taken = {t.name for t in tools}
    for t in new:
        if t.name in taken:
            server = t.connection.config.name if t.connection is not None else "?"
            raise ConfigError(
                f"mcp.{server}", f"tool {t.name!r} clashes with another tool of agent {agent!r}; set a prefix"
            )
        taken.add(t.name)
    tools.extend(new)


def _text(result: CallToolResult) -> str:
    parts = [_block_text(b) for b in result.content]
    if not any(parts) and result.structured_content is not None:
        return json.dumps(result.structured_content)
    return "\n".join(p for p in parts if p)


def _block_text(block: ContentBlock) -> str:
    """Text as it is; other content named by what it is, since our models read text only."""
    if block.type == "text":
        return block.text
    if block.type == "resource_link":
        return f"[resource {block.uri}]"
    if block.type == "resource":
        text = getattr(block.resource, "text", None)
        return text if isinstance(text, str) else f"[resource {block.resource.uri}]"
    return f"[{block.type} {block.mime_type}]"


def _mcp_failure(exc: MCPError) -> str:
    """What an error from the session means, in words a model (and its user) can act on."""
    if exc.code == CONNECTION_CLOSED:
        return "has stopped (its connection closed)"
    if exc.code == REQUEST_TIMEOUT:
        return f"did not answer in time ({exc.message})"
    return f"refused the call: {exc.message}"


def _reason(exc: BaseException) -> str:
    """The innermost cause of ``exc``, unwrapping the exception groups anyio raises."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
