"""mkdocs hooks: pages generated from the code, so that they cannot drift from it.

A page asks for a generated part with a marker on a line of its own:

- ``<!-- synthswarm:config-keys -->``: every config key, from the config dataclasses
  (:mod:`synthswarm.swarm.config`): its type, default, environment variable and help text;
- ``<!-- synthswarm:error-tree -->``: the exception tree, from the classes under
  :class:`~synthswarm.swarm.errors.SynthswarmError`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The griffe extension beside this file, which mkdocs loads by path (docs/_build is not a package).
_spec = importlib.util.spec_from_file_location("sphinx_roles", Path(__file__).with_name("sphinx_roles.py"))
assert _spec is not None
assert _spec.loader is not None
_roles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_roles)
markdown_of = _roles.markdown_of

CONFIG_MARKER = "<!-- synthswarm:config-keys -->"
ERRORS_MARKER = "<!-- synthswarm:error-tree -->"
#: Modules that define errors outside synthswarm.swarm.errors.
ERROR_MODULES = ("synthswarm.swarm.errors", "synthswarm.agents.approval")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, config_tables())
    if ERRORS_MARKER in markdown:
        markdown = markdown.replace(ERRORS_MARKER, error_tree())
    return markdown


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """The CLI page: mkdocs-click prints click's marker for "no default" (``Sentinel.UNSET``, click 8.2
    and later) in the Default column; an empty cell says it."""
    if page.file.src_uri == "reference/cli.md":
        html = html.replace("<td><code>Sentinel.UNSET</code></td>", "<td></td>")
    return html


def _type_name(hint: object) -> str:
    if typing.get_origin(hint) is typing.Literal:  # one of the values
        return "One of " + ", ".join(f"`{value}`" for value in typing.get_args(hint))
    return f"Type `{getattr(hint, '__name__', str(hint))}`"


def _sections(cls: type, prefix: str) -> Iterator[tuple[str, type, list[tuple[str, str, str]]]]:
    hints = typing.get_type_hints(cls)
    defaults = cls()  # every config dataclass has a default for every field
    rows = []
    nested: list[tuple[str, type]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        key = prefix + f.name
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            nested.append((key, hint))
            continue
        default = getattr(defaults, f.name)
        shown = "(secret)" if f.metadata.get("secret") else f"`{_shown(default)}`"
        doc = f.metadata.get("doc", "")
        if f.metadata.get("min") is not None:
            doc += f" At least {f.metadata['min']}."
        env = "SYNTHSWARM_" + key.upper().replace(".", "__")
        about = f"{doc}<br>{_type_name(hint)}; environment `{env}`."
        rows.append((f"`{key}`", shown, about.replace("|", "\\|")))
    yield prefix.rstrip(".") or "Top-level keys", cls, rows
    for key, sub in nested:
        yield from _sections(sub, key + ".")


def _shown(default: object) -> str:
    if isinstance(default, str):
        return f'"{default}"'
    if isinstance(default, Path):
        return f'"{default}"'
    return repr(default).lower() if isinstance(default, bool) else repr(default)


def config_tables() -> str:
    """A table a config section: key, default, what it does (with its type and environment variable)."""
    config = importlib.import_module("synthswarm.swarm.config")
    out = []
    for title, cls, rows in _sections(config.Config, ""):
        heading = title if " " in title else f"`[{title}]`"
        out.append(f"## {heading}\n\n{markdown_of(_first_paragraph(cls.__doc__))}\n")
        out.append("| key | default | what it does |\n| --- | --- | --- |")
        out.extend("| " + " | ".join(row) + " |" for row in rows)
        out.append("")
    return "\n".join(out)


def error_tree() -> str:
    """The exception classes as a nested list, each with the first line of its docstring."""
    for name in ERROR_MODULES:
        importlib.import_module(name)
    root: type = importlib.import_module("synthswarm.swarm.errors").SynthswarmError

    def lines(cls: type, depth: int) -> Iterator[str]:
        where = "" if cls.__module__ == root.__module__ else f" (in `{cls.__module__}`)"
        yield f"{'    ' * depth}- **`{cls.__name__}`**{where}: {markdown_of(_first_paragraph(cls.__doc__))}"
        subclasses: list[type] = cls.__subclasses__()
        for sub in sorted(subclasses, key=lambda c: c.__name__):
            if sub.__module__.startswith("synthswarm."):
                yield from lines(sub, depth + 1)

    return "\n".join(lines(root, 0)) + "\n"


def _first_paragraph(doc: str | None) -> str:
    """The docstring's first paragraph on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())
