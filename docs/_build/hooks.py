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
import typing
from collections.abc import Iterator
from typing import Any

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


def _type_name(hint: object) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(hint))
    return f"`{getattr(hint, '__name__', str(hint))}`"


def _sections(cls: type, prefix: str) -> Iterator[tuple[str, type, list[tuple[str, str, str, str, str]]]]:
    hints = typing.get_type_hints(cls)
    rows = []
    nested = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        key = prefix + f.name
        if dataclasses.is_dataclass(hint):
            nested.append((key, hint))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        shown = "(secret)" if f.metadata.get("secret") else f"`{default!r}`" if default != "" else '`""`'
        doc = f.metadata.get("doc", "")
        if f.metadata.get("min") is not None:
            doc += f" At least {f.metadata['min']}."
        env = "SYNTHSWARM_" + key.upper().replace(".", "__")
        rows.append((f"`{key}`", _type_name(hint), shown, f"`{env}`", doc.replace("|", "\\|")))
    yield prefix.rstrip(".") or "(top level)", cls, rows
    for key, sub in nested:
        yield from _sections(sub, key + ".")


def config_tables() -> str:
    """A table a config section: key, type, default, environment variable, what it does."""
    config = importlib.import_module("synthswarm.swarm.config")
    out = []
    for title, cls, rows in _sections(config.Config, ""):
        out.append(f"## `{title}`\n\n{(cls.__doc__ or '').strip().splitlines()[0]}\n")
        out.append("| key | type | default | environment | what it does |\n| --- | --- | --- | --- | --- |")
        out.extend("| " + " | ".join(row) + " |" for row in rows)
        out.append("")
    return "\n".join(out)


def error_tree() -> str:
    """The exception classes as a nested list, each with the first line of its docstring."""
    for name in ERROR_MODULES:
        importlib.import_module(name)
    root = importlib.import_module("synthswarm.swarm.errors").SynthswarmError

    def lines(cls: type, depth: int) -> Iterator[str]:
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        yield f"{'    ' * depth}- `{cls.__name__}` (`{cls.__module__}`): {doc}"
        for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
            if sub.__module__.startswith("synthswarm."):
                yield from lines(sub, depth + 1)

    return "\n".join(lines(root, 0)) + "\n"
