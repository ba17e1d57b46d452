"""Tool: a typed Python function with the JSON schema a model needs to call it.

The schema comes from the signature (annotations give the types, defaults make a parameter optional)
and the docstring (its first paragraph describes the tool; an ``Args:`` section describes each
parameter), so a tool is written once, as an ordinary typed function.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin, overload

from agents.llm import ToolSpec
from swarm.errors import ToolError

__all__ = ["MAX_RESULT_CHARS", "Tool", "tool"]

#: A tool's result is cut to this many characters before the model sees it.
MAX_RESULT_CHARS = 4000

_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARG_SECTIONS = ("Args:", "Arguments:", "Parameters:")
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


@dataclass(frozen=True)
class Tool:
    """A function a model may call. Build one with :func:`tool`."""

    name: str
    description: str
    parameters: dict[str, object]
    """JSON schema of the arguments object."""
    fn: Callable[..., object]
    needs_approval: bool = False
    """Whether a person must approve each call before it runs (the dispatcher asks, see
    :mod:`agents.approval`)."""

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    async def call(self, arguments: str | Mapping[str, object]) -> str:
        """Run the tool on the model's arguments (JSON text or a mapping) and return its result as text.

        Bad arguments and failures raise :class:`~swarm.errors.ToolError` with a message meant for the
        model, so an agent can hand it back and let the model try again.
        """
        kwargs = self._check(_parse(arguments, self.name))
        try:
            result = self.fn(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except ToolError:
            raise
        except Exception as exc:  # a tool's own bug or bad input: report it to the model, not crash
            raise ToolError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc
        text = result if isinstance(result, str) else json.dumps(result, default=str)
        return text[:MAX_RESULT_CHARS]

    def _check(self, arguments: dict[str, object]) -> dict[str, object]:
        properties = typing.cast(dict[str, dict[str, object]], self.parameters["properties"])
        required = typing.cast(list[str], self.parameters.get("required", []))
        unknown = sorted(set(arguments) - set(properties))
        if unknown:
            raise ToolError(f"{self.name}: unknown argument(s) {', '.join(unknown)}")
        missing = [name for name in required if name not in arguments]
        if missing:
            raise ToolError(f"{self.name}: missing argument(s) {', '.join(missing)}")
        return {name: _coerce(self.name, name, value, properties[name]) for name, value in arguments.items()}


@overload
def tool(fn: Callable[..., object], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, needs_approval: bool = False
) -> Callable[[Callable[..., object]], Tool]: ...
def tool(
    fn: Callable[..., object] | None = None, /, *, name: str | None = None, needs_approval: bool = False
) -> Tool | Callable[[Callable[..., object]], Tool]:
    """Make a :class:`Tool` of a typed function (sync or async); usable as ``@tool`` or ``@tool(name=...)``.
    With ``needs_approval``, each call waits for a person's decision (``@tool(needs_approval=True)``).

    Parameters may be ``str``, ``int``, ``float``, ``bool``, ``list[...]`` of those, a ``Literal`` of
    strings, or optional versions of these; anything else is refused here, not when a model calls it.
    """

    def build(function: Callable[..., object]) -> Tool:
        summary, arg_docs = _parse_docstring(inspect.getdoc(function) or "")
        hints = typing.get_type_hints(function)
        properties: dict[str, object] = {}
        required: list[str] = []
        for param in inspect.signature(function).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ToolError(f"tool {function.__name__}: *args and **kwargs cannot be described")
            if param.name not in hints:
                raise ToolError(f"tool {function.__name__}: parameter {param.name!r} needs a type annotation")
            schema = _schema(hints[param.name], f"{function.__name__}.{param.name}")
            if param.name in arg_docs:
                schema["description"] = arg_docs[param.name]
            properties[param.name] = schema
            if param.default is inspect.Parameter.empty:
                required.append(param.name)
        if not summary:
            raise ToolError(f"tool {function.__name__}: the docstring must say what the tool does")
        parameters: dict[str, object] = {"type": "object", "properties": properties, "required": required}
        return Tool(name or function.__name__, summary, parameters, function, needs_approval)

    return build(fn) if fn is not None else build


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and each ``Args:`` entry (indented continuation lines joined)."""
    lines = doc.splitlines()
    summary = " ".join(line.strip() for line in itertools.takewhile(lambda x: x.strip(), lines))
    args: dict[str, str] = {}
    current, indent, in_args = "", 0, False
    for line in lines:
        stripped = line.strip()
        if stripped in _ARG_SECTIONS:
            in_args, current = True, ""
        elif in_args and stripped.endswith(":") and not line.startswith(" "):
            break  # the next section (Returns:, Raises:...)
        elif in_args and stripped:
            match = _ARG_LINE.match(line)
            line_indent = len(line) - len(line.lstrip())
            if match and (not current or line_indent <= indent):
                current, indent = match.group(1), line_indent
                args[current] = match.group(2).strip()
            elif current:
                args[current] += " " + stripped
    return ("" if summary in _ARG_SECTIONS else summary), args


def _schema(annotation: object, where: str) -> dict[str, object]:
    origin = get_origin(annotation)
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    if origin is Literal:
        values = get_args(annotation)
        if not all(isinstance(v, str) for v in values):
            raise ToolError(f"tool {where}: only Literal strings are supported")
        return {"type": "string", "enum": list(values)}
    if origin is list:
        (item,) = get_args(annotation) or (str,)
        return {"type": "array", "items": _schema(item, where)}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return _schema(options[0], where)
    raise ToolError(f"tool {where}: cannot describe type {annotation!r} in JSON schema")


def _parse(arguments: str | Mapping[str, object], name: str) -> dict[str, object]:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ToolError(f"{name}: arguments are not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ToolError(f"{name}: arguments must be a JSON object")
    return value


def _coerce(tool_name: str, name: str, value: object, schema: Mapping[str, object]) -> object:
    """Check one argument against its schema; models often quote numbers, so numeric text is accepted."""
    kind = schema.get("type")
    if kind == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if kind == "number" and isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
    }.get(str(kind), False)
    if not ok:
        article = "an" if str(kind)[:1] in "aeiou" else "a"
        got = type(value).__name__
        raise ToolError(f"{tool_name}: argument {name!r} must be {article} {kind}, got {got}")
    if "enum" in schema and value not in typing.cast(list[Any], schema["enum"]):
        raise ToolError(f"{tool_name}: argument {name!r} must be one of {schema['enum']}")
    if isinstance(value, list):
        item_schema = typing.cast(Mapping[str, object], schema["items"])
        return [_coerce(tool_name, f"{name}[{i}]", v, item_schema) for i, v in enumerate(value)]
    return value
