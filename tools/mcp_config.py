"""How to reach an MCP server, from Python or an agents file's ``mcp`` tables (see
:mod:`synthswarm.tools.mcp`).

Kept apart from the client so that reading a config (and importing the runtime) does not load the
MCP SDK: a swarm imports it only when one of its agents has a server to connect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthswarm.swarm.errors import ConfigError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["TABLE_KEYS", "MCPServerConfig", "mcp_configs"]

#: The keys an ``mcp`` table of an agents file may have.
TABLE_KEYS = frozenset(
    {"name", "command", "args", "env", "cwd", "url", "headers", "tools", "prefix", "timeout_s"}
)


@dataclass(frozen=True, kw_only=True, eq=False)
class MCPServerConfig:
    """How to reach one MCP server, and which of its tools an agent gets. Give exactly one of
    ``command`` (stdio), ``url`` (streamable HTTP) or ``server`` (in process)."""

    name: str
    """Names the server in errors and logs."""
    command: str | None = None
    """The program to start; the SDK talks to it over its stdin and stdout, and stops it on close."""
    args: tuple[str, ...] = ()
    """Arguments of ``command``."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables for ``command``, over the SDK's safe defaults (``PATH``, ``HOME``...)."""
    cwd: str | None = None
    """Working directory of ``command``."""
    url: str | None = None
    """The endpoint of a streamable HTTP server, e.g. ``http://127.0.0.1:8000/mcp``."""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold a token
    """HTTP headers sent with every request to ``url`` (an ``Authorization`` bearer token, say)."""
    server: MCPServer[Any] | None = None
    """An ``mcp.server.mcpserver.MCPServer`` in this process (from Python only)."""
    tools: tuple[str, ...] | None = None
    """Only these of the server's tools (None: all of them)."""
    prefix: str = ""
    """Put before each tool's name, so two servers' tools of the same name stay apart."""
    timeout_s: float = 60.0
    """How long to wait for the server to start, and for each call."""

    def __post_init__(self) -> None:
        where = f"mcp.{self.name or '?'}"
        if not self.name.strip():
            raise ConfigError("mcp.name", "every MCP server needs a name")
        given = [k for k in ("command", "url", "server") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError(where, f"give exactly one of command, url or server, not {given or 'none'}")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url", f"must be an http:// or https:// URL, got {self.url!r}")
        if self.timeout_s <= 0:
            raise ConfigError(f"{where}.timeout_s", f"must be positive, got {self.timeout_s}")

    def __eq__(self, other: object) -> bool:  # mappings make the generated hash fail; compare as data
        return isinstance(other, MCPServerConfig) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[object, ...]:
        env, headers = tuple(sorted(self.env.items())), tuple(sorted(self.headers.items()))
        where = (self.command, self.args, env, self.cwd, self.url, headers, id(self.server))
        return (self.name, *where, self.tools, self.prefix, self.timeout_s)

    def describe(self) -> str:
        """Where the server is, for messages: its command line, its URL, or "in process"."""
        if self.command is not None:
            return " ".join([self.command, *self.args])
        return self.url or "in process"

    @classmethod
    def from_table(
        cls, table: Mapping[str, object], key: str, *, source: str | None = None
    ) -> MCPServerConfig:
        """One ``mcp`` table of an agents file (``key`` names it in errors, e.g. ``agents[0].mcp[1]``)."""

        def fail(field_name: str, message: str) -> ConfigError:
            return ConfigError(f"{key}.{field_name}", message, source=source)

        unknown = sorted(set(table) - TABLE_KEYS)
        if unknown:
            raise fail(unknown[0], "unknown setting; an mcp table takes " + ", ".join(sorted(TABLE_KEYS)))
        values: dict[str, Any] = {}
        for name, kind in _TABLE_TYPES.items():
            if name in table:
                value = table[name]
                if not _is_kind(value, kind):
                    raise fail(name, f"must be {kind}")
                values[name] = tuple(value) if isinstance(value, list) else value
        if "timeout_s" in table:
            timeout = table["timeout_s"]
            if not isinstance(timeout, int | float) or isinstance(timeout, bool):
                raise fail("timeout_s", "must be a number of seconds")
            values["timeout_s"] = float(timeout)
        if "name" not in values:
            raise fail("name", "every MCP server needs a name")
        try:
            return cls(**values)
        except ConfigError as exc:  # re-key the message to where the table is in the file
            raise ConfigError(key, str(exc).removeprefix("config "), source=source) from exc


_TABLE_TYPES = {
    "name": "a string", "command": "a string", "cwd": "a string", "url": "a string", "prefix": "a string",
    "args": "a list of strings", "tools": "a list of strings", "env": "a table of strings",
    "headers": "a table of strings",
}  # fmt: skip


def _is_kind(value: object, kind: str) -> bool:
    if kind == "a string":
        return isinstance(value, str)
    if kind == "a list of strings":
        return isinstance(value, list) and all(isinstance(i, str) for i in value)
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def mcp_configs(value: object, key: str, *, source: str | None = None) -> tuple[MCPServerConfig, ...]:
    """The ``mcp`` list of an agents-file table (``mcp = [{name = ..., command = ...}, ...]``)."""
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(key, "must be a list of tables ([[agents.mcp]] or mcp = [{...}])", source=source)
    return tuple(MCPServerConfig.from_table(t, f"{key}[{i}]", source=source) for i, t in enumerate(value))
