"""The docs site's generated pages: every config key and every error class, and the docstrings' roles."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

from synthswarm.agents.approval import ApprovalRequired
from synthswarm.swarm import errors
from synthswarm.swarm.config import Config, describe
from tests.docs_pages import PAGES, ROOT

BUILD = ROOT / "docs" / "_build"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{name}", BUILD / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_config_page_has_every_key_with_its_environment_variable() -> None:
    tables = load("hooks").config_tables()
    for key, _, doc in describe(Config()):
        assert f"| `{key}` |" in tables
        assert "SYNTHSWARM_" + key.upper().replace(".", "__") in tables
        assert doc.split(";")[0].replace("|", "\\|") in tables


def test_the_error_page_has_every_error_class() -> None:
    tree = load("hooks").error_tree()
    root = errors.SynthswarmError
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, root)]
    assert len(classes) > 20
    for cls in [*classes, ApprovalRequired]:
        assert f"**`{cls.__name__}`**" in tree
    assert "(in `synthswarm.agents.approval`)" in tree


def test_a_page_marker_is_replaced_and_other_pages_are_left_alone() -> None:
    hooks = load("hooks")
    page = f"# Keys\n\n{hooks.CONFIG_MARKER}\n"
    assert "llm.max_tokens" in hooks.on_page_markdown(page)
    assert hooks.on_page_markdown("# Plain\n") == "# Plain\n"


def test_sphinx_roles_become_optional_cross_references() -> None:
    markdown_of = load("sphinx_roles").markdown_of
    assert markdown_of(":class:`~synthswarm.agents.llm.ChatModel`") == (
        '<autoref identifier="synthswarm.agents.llm.ChatModel" optional><code>ChatModel</code></autoref>'
    )
    assert markdown_of(":func:`synthswarm.swarm.config.load_config`").endswith(
        "<code>synthswarm.swarm.config.load_config()</code></autoref>"
    )
    assert markdown_of(":rfc:`7748`") == "`7748`"
    assert markdown_of("the tree::\n\n    A\n") == "the tree:\n\n    A\n"


def test_every_snippet_include_names_a_file_in_a_fence_ruff_leaves_alone() -> None:
    """`ruff format` formats ```py blocks in Markdown, and reads `--8<-- "f"` as Python (`--8 < --"f"`):
    an include sits in a ```{.python} fence, which it leaves alone."""
    pages = {page: page.read_text() for page in PAGES}
    includes = [
        (page, line) for page, text in pages.items() for line in text.splitlines() if line.startswith("--8")
    ]
    assert includes
    for page, line in includes:
        target = re.fullmatch(r'--8<-- "(?P<path>[^"]+)"', line)
        assert target, f"{page}: {line!r} is not an include"
        assert (ROOT / target["path"]).is_file(), f"{page}: {target['path']} does not exist"
        assert f'```{{.python title="{target["path"]}"}}\n{line}' in pages[page], f"{page}: fence of {line!r}"


def test_every_cli_option_says_what_it_does() -> None:
    """The CLI page is generated from the click commands; an option without help reads "N/A" there."""
    import click

    from synthswarm.swarm.app.cli import cli

    def silent(command: click.Command, path: str) -> list[str]:
        found = [f"{path} {p.opts[0]}" for p in command.params if isinstance(p, click.Option) and not p.help]
        for name, sub in getattr(command, "commands", {}).items():
            found += silent(sub, f"{path} {name}")
        return found

    assert silent(cli, "synthswarm") == []
