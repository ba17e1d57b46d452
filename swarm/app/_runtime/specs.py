"""Loading agents from a TOML config file: each ``[[agents]]`` table checked and read into an AgentSpec."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthswarm.agents.memory import check_agent_name
from synthswarm.agents.specialist import DEFAULT_INSTRUCTIONS
from synthswarm.swarm.config import AGENTS_KEY
from synthswarm.swarm.errors import ConfigError
from synthswarm.tools.mcp_config import MCPServerConfig, mcp_configs

__all__ = ["AgentSpec", "load_agents"]

_SETTINGS = frozenset({"name", "domain", "instructions", "documents", "files", "mcp", "approval"})


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


def _agent_spec(table: dict[str, Any], index: int, path: Path) -> AgentSpec:
    where = f"file {path}"

    def text(key: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"agents[{index}].{key}", "must be a non-empty string", source=where)
        return value

    unknown = sorted(set(table) - _SETTINGS)
    if unknown:
        raise ConfigError(f"agents[{index}].{unknown[0]}", "unknown setting", source=where)
    documents = table.get("documents", [])
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise ConfigError(f"agents[{index}].documents", "must be a list of strings", source=where)
    paragraphs = _file_paragraphs(table, index, path)
    return AgentSpec(
        name=check_agent_name(text("name")),
        domain=text("domain"),
        instructions=text("instructions", DEFAULT_INSTRUCTIONS),
        documents=(*documents, *paragraphs),
        mcp=mcp_configs(table.get("mcp", []), f"agents[{index}].mcp", source=where),
        approval=_flag(table, "approval", index, where),
    )


def _file_paragraphs(table: dict[str, Any], index: int, path: Path) -> list[str]:
    """The blank-line paragraphs of the table's ``files``, in order, read relative to the config file."""
    files = table.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"agents[{index}].files", "must be a list of paths", source=f"file {path}")
    paragraphs: list[str] = []
    for name in files:
        file = (path.parent / name).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"agents[{index}].files", f"cannot read {file}: {exc.strerror}", source=f"file {path}"
            ) from exc
        paragraphs += [p.strip() for p in text.split("\n\n") if p.strip()]
    return paragraphs


def _flag(table: dict[str, Any], key: str, index: int, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"agents[{index}].{key}", "must be true or false", source=where)
    return value
