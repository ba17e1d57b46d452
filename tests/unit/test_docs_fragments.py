"""The docs' fragments: a ```py block is code that cannot run alone (it needs a server, or names from
the page around it), so the tests do not run it as they run ```python blocks. It must still be Python
that compiles, and whatever it imports from synthswarm must exist."""

from __future__ import annotations

import ast
import importlib

import pytest

from tests.docs_pages import fenced_blocks

FRAGMENTS = list(fenced_blocks("py").items())


def test_the_docs_have_fragments() -> None:
    assert FRAGMENTS


@pytest.mark.parametrize("block", [block for _, block in FRAGMENTS], ids=[name for name, _ in FRAGMENTS])
def test_a_fragment_compiles_and_its_synthswarm_imports_exist(block: str) -> None:
    tree = compile(block, "<fragment>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("synthswarm"):
            module = importlib.import_module(node.module or "")
            missing = [alias.name for alias in node.names if not hasattr(module, alias.name)]
            assert not missing, f"{node.module} has no {missing}"
