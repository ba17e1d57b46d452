"""A griffe extension: the docstrings' Sphinx roles as mkdocstrings cross-references.

The code's docstrings use reStructuredText roles (``:class:`~synthswarm.agents.llm.ChatModel```), which
mkdocstrings would print as they are. Each becomes an optional autoref: a link where the target has a
page, plain code where it has none (a private module, say), never a strict-build warning. A line ending
in ``::`` (reST's "a literal block follows") loses one colon; the indented block is code in Markdown too.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<tilde>~?)(?P<target>[^`]+)`")
_LINKED = {"class", "func", "meth", "mod", "attr", "data", "exc", "obj", "const"}


def _replace(match: re.Match[str]) -> str:
    target = match["target"].strip()
    if match["role"] not in _LINKED:
        return f"`{target}`"
    if "<" in target and target.endswith(">"):  # :role:`title <target>`
        title, target = (part.strip() for part in target[:-1].split("<", 1))
    else:
        title = target.rsplit(".", 1)[-1] if match["tilde"] else target.lstrip(".")
    suffix = "()" if match["role"] in {"func", "meth"} and not title.endswith(")") else ""
    return f'<autoref identifier="{target.lstrip(".")}" optional><code>{title}{suffix}</code></autoref>'


def markdown_of(text: str) -> str:
    """``text`` (a docstring) with its Sphinx roles as autorefs and its ``::`` as ``:``."""
    text = _ROLE.sub(_replace, text)
    return re.sub(r"(?<=\S)::$", ":", text, flags=re.MULTILINE)


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring once the object tree is built."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
