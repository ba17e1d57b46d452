"""Imports point one way: the network layer knows nothing of agents, agents know nothing of the
applications built on them, and tools (the schemas agents hand models) know nothing of agents (every
import is read from the source, those inside functions too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPLICATIONS = (
    "evals", "swarm.a2a_server", "swarm.bench", "swarm.chat_cli", "swarm.cli", "swarm.demo",
    "swarm.demo_cli", "swarm.diagnostics", "swarm.fuzz", "swarm.mcp_cli", "swarm.mcp_server",
    "swarm.node_cli", "swarm.runtime", "swarm.serve_cli", "swarm.server",
)  # fmt: skip


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def network_layer() -> list[Path]:
    """Every module of ``swarm/`` that is not an application: the DHT, routers, packets, identity,
    admission, semantic keys, direct messages, config and errors."""
    return [
        p for p in modules("swarm")
        if not reaches(module_name(p), (*APPLICATIONS, "swarm.__main__"))
    ]  # fmt: skip


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def modules(*places: str) -> list[Path]:
    paths = [ROOT / p for p in places]
    return sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*.py")))


def reaches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("path", network_layer(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_network_layer_imports_neither_agents_nor_applications(path: Path) -> None:
    wrong = sorted(m for m in imports(path) if reaches(m, ("agents", "tools", *APPLICATIONS)))
    assert wrong == [], f"{path.relative_to(ROOT)} imports {wrong}"


@pytest.mark.parametrize("path", modules("agents", "tools"), ids=lambda p: str(p.relative_to(ROOT)))
def test_agents_do_not_import_the_applications(path: Path) -> None:
    wrong = sorted(m for m in imports(path) if reaches(m, APPLICATIONS))
    assert wrong == [], f"{path.relative_to(ROOT)} imports {wrong}"


@pytest.mark.parametrize("path", modules("tools"), ids=lambda p: str(p.relative_to(ROOT)))
def test_tools_do_not_import_agents(path: Path) -> None:
    wrong = sorted(m for m in imports(path) if reaches(m, ("agents",)))
    assert wrong == [], f"{path.relative_to(ROOT)} imports {wrong}"
