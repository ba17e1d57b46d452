"""Three floors, imports pointing down only, each floor read from its folder (GUIDE section 2):

- the network floor, ``swarm/`` except ``swarm/app/``: the DHT, routers, packets, identity,
  admission, semantic keys, direct messages, telemetry, config and errors;
- the agents floor, ``agents/`` and ``tools/``: who thinks, and what they may call (``tools/`` knows
  nothing of ``agents/`` either);
- the applications, ``swarm/app/`` and ``evals/``.

Every import is read from the source, those inside functions and under ``TYPE_CHECKING`` too. Every
import of ours is spelled with the installed name, ``synthswarm.``, and the wheel's package list
names every folder of the tree.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "synthswarm"
OURS = ("agents", "swarm", "tools", "evals")
NETWORK, AGENTS, APPLICATIONS = 0, 1, 2
FLOOR_NAMES = {NETWORK: "network", AGENTS: "agents", APPLICATIONS: "applications"}


def floor_of_path(path: Path) -> int:
    parts = path.relative_to(ROOT).parts
    if parts[0] == "evals" or parts[:2] == ("swarm", "app"):
        return APPLICATIONS
    return AGENTS if parts[0] in ("agents", "tools") else NETWORK


def floor_of_module(module: str) -> int | None:
    """The floor of one of our modules by its installed name; ``None`` for anything not ours."""
    parts = module.split(".")
    if parts[0] != NAMESPACE:
        return None
    if len(parts) == 1:
        return APPLICATIONS  # the curated surface imports from every floor
    return floor_of_path(ROOT.joinpath(*parts[1:3]))


def sources() -> list[Path]:
    return sorted(f for top in OURS for f in (ROOT / top).rglob("*.py"))


def imports(path: Path) -> set[str]:
    """Every absolute module ``path`` imports, at any depth of its code."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def label(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", sources(), ids=label)
def test_imports_point_down_only(path: Path) -> None:
    here = floor_of_path(path)
    up = sorted(m for m in imports(path) if (f := floor_of_module(m)) is not None and f > here)
    assert up == [], f"{label(path)} ({FLOOR_NAMES[here]} floor) imports {up}, from a floor above it"


@pytest.mark.parametrize("path", sorted((ROOT / "tools").rglob("*.py")), ids=label)
def test_tools_do_not_import_agents(path: Path) -> None:
    wrong = sorted(m for m in imports(path) if m.startswith(f"{NAMESPACE}.agents"))
    assert wrong == [], f"{label(path)} imports {wrong}"


@pytest.mark.parametrize(
    "path",
    [*sources(), *sorted((ROOT / "tests").rglob("*.py")), *sorted((ROOT / "examples").rglob("*.py"))],
    ids=label,
)
def test_our_modules_are_imported_by_their_installed_names(path: Path) -> None:
    bare = sorted(m for m in imports(path) if m.split(".")[0] in OURS)
    assert bare == [], f"{label(path)} imports {bare}: spell them synthswarm.<name>"


def test_the_wheel_lists_every_package_folder() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapped = {name: ROOT / folder for name, folder in settings["package-dir"].items()}
    surface = mapped.pop(NAMESPACE)
    folders = {
        f"{NAMESPACE}." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in OURS
        for init in (ROOT / top).rglob("__init__.py")
        if init.parent != surface
    }
    assert mapped == {f"{NAMESPACE}.{top}": ROOT / top for top in OURS}
    assert sorted(settings["packages"]) == sorted({NAMESPACE, *folders})


def test_a_floor_is_a_folder_not_a_list() -> None:
    assert floor_of_path(ROOT / "swarm" / "dht" / "node.py") == NETWORK
    assert floor_of_path(ROOT / "swarm" / "app" / "runtime.py") == APPLICATIONS
    assert floor_of_path(ROOT / "agents" / "answers.py") == AGENTS
    assert floor_of_module("synthswarm.swarm.app.bench.routing") == APPLICATIONS
    assert floor_of_module("synthswarm.swarm.routers") == NETWORK
    assert floor_of_module("agents") is None


def _module_names() -> dict[str, Path]:
    """Every module of ours by its installed name."""
    found: dict[str, Path] = {}
    for path in sources():
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join((NAMESPACE, *parts)).removesuffix(".__init__")
        found[NAMESPACE if path.parent.name == "surface" and parts[:2] == ("swarm", "app") else name] = path
    return found


def _edges(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules importing ``name`` runs: each target, and the packages above it that are not
    already running (the importer's own packages are, since Python imports them first)."""
    mine = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for target in targets:
            parts = target.split(".")
            out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in out - mine if m in known and m != name}


def test_there_are_no_import_cycles() -> None:
    """No cycle among our modules, through imports inside functions and under TYPE_CHECKING too."""
    known = _module_names()
    graph = {name: _edges(name, path, known) for name, path in known.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
