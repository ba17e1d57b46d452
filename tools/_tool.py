"""Tool: a typed Python function with the JSON schema a model needs to call it.

The schema is langchain-core's (:func:`~langchain_core.utils.function_calling.convert_to_openai_function`),
so a tool here is described exactly as LangChain describes it: annotations give the types, defaults
make a parameter optional, the docstring's text before ``Args:`` describes the tool and its ``Args:``
section each parameter. On top of that we refuse, when the tool is made, any parameter whose schema
:meth:`Tool.call` could not check, so a model's bad arguments come back as a readable
:class:`~synthswarm.swarm.errors.ToolError` rather than as a crash inside the function.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import typing
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from langchain_core.utils.function_calling import convert_to_openai_function

from synthswarm.swarm.errors import ToolError
from synthswarm.tools._spec import ToolSpec

__all__ = ["MAX_RESULT_CHARS", "Tool", "parse_arguments", "tool"]

#: A tool's result is cut to this many characters before the model sees it.
MAX_RESULT_CHARS = 4000

_SCALARS = frozenset({"string", "integer", "number", "boolean"})
_MEMO_SIZE = 256


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
    :mod:`synthswarm.agents.approval`)."""

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    async def call(self, arguments: str | Mapping[str, object]) -> str:
        """Run the tool on the model's arguments (JSON text or a mapping) and return its result as text.

        Bad arguments and failures raise :class:`~synthswarm.swarm.errors.ToolError` with a message meant for
        the model, so an agent can hand it back and let the model try again.
        """
        kwargs = self._check(parse_arguments(arguments, self.name))
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
    strings or of integers, or optional versions of these; anything else is refused here, not when a
    model calls it.
    """

    def build(function: Callable[..., object]) -> Tool:
        hints = _annotations(function)
        described = _describe(function)
        if not described["description"]:
            raise ToolError(f"tool {function.__name__}: the docstring must say what the tool does")
        parameters = typing.cast(dict[str, object], described["parameters"])
        properties = typing.cast(dict[str, dict[str, object]], parameters.setdefault("properties", {}))
        parameters.setdefault("required", [])
        for param, schema in properties.items():
            if not _checkable(schema):
                raise ToolError(
                    f"tool {function.__name__}.{param}: cannot describe type {hints[param]!r} in JSON schema"
                )
        return Tool(
            name or function.__name__, str(described["description"]), parameters, function, needs_approval
        )

    return build(fn) if fn is not None else build


def _annotations(function: Callable[..., object]) -> dict[str, object]:
    """The parameters' types, refusing what a schema cannot state (the converter would write ``{}``)."""
    try:
        hints = typing.get_type_hints(function)
    except NameError as exc:  # a string annotation naming something out of the function's scope
        raise ToolError(f"tool {function.__name__}: cannot resolve its annotations ({exc})") from exc
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolError(f"tool {function.__name__}: *args and **kwargs cannot be described")
        if param.name not in hints:
            raise ToolError(f"tool {function.__name__}: parameter {param.name!r} needs a type annotation")
    return hints


@dataclass(frozen=True)
class _Signature:
    """What a function's schema depends on. Every specialist makes its own closures of the built-in
    tools, and the converter builds a pydantic model each time (about 3 ms), so schemas are memoised
    by this key rather than by the function object. The function itself is held weakly: a closure
    keeps its agent alive, and the memo must not."""

    code: object
    annotations: str
    defaults: str
    doc: str
    function: weakref.ref[Callable[..., object]] = field(compare=False, hash=False)

    @classmethod
    def of(cls, function: Callable[..., object]) -> _Signature:
        return cls(
            getattr(function, "__code__", function),
            repr(getattr(function, "__annotations__", None)),
            repr((getattr(function, "__defaults__", None), getattr(function, "__kwdefaults__", None))),
            inspect.getdoc(function) or "",
            weakref.ref(function),
        )


def _describe(function: Callable[..., object]) -> dict[str, object]:
    """The converter's description and parameters, a fresh copy each time (callers may change it)."""
    return typing.cast(dict[str, object], json.loads(_described(_Signature.of(function))))


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _described(signature: _Signature) -> str:
    function = signature.function()
    assert function is not None, "the caller holds the function while it is described"
    try:
        described = convert_to_openai_function(function)
    except Exception as exc:  # pydantic refuses types it cannot put in a schema (arbitrary classes)
        name = getattr(function, "__name__", repr(function))
        raise ToolError(f"tool {name}: cannot describe its parameters in JSON schema ({exc})") from exc
    return json.dumps(
        {"description": described.get("description", ""), "parameters": described.get("parameters", {})}
    )


def _checkable(schema: Mapping[str, object]) -> bool:
    """Whether :func:`_coerce` can check a value against ``schema`` (what our own tools may declare)."""
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _SCALARS:
        return True
    if kind == "array":
        return _checkable(typing.cast(Mapping[str, object], schema.get("items", {})))
    return _nullable(schema) is not None and _checkable(typing.cast(Mapping[str, object], _nullable(schema)))


def _nullable(schema: Mapping[str, object]) -> Mapping[str, object] | None:
    """For ``X | None`` (``anyOf: [X, {"type": "null"}]``), the schema of X."""
    options = typing.cast(list[Mapping[str, object]], schema.get("anyOf", []))
    others = [o for o in options if o.get("type") != "null"]
    return others[0] if len(options) == 2 and len(others) == 1 else None


def parse_arguments(arguments: str | Mapping[str, object], name: str) -> dict[str, object]:
    """A model's arguments (JSON text or a mapping) as a dict; anything else is a :class:`ToolError`."""
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
    """Check one argument against its schema; models often quote numbers, so numeric text is accepted.

    A schema this module did not write (a LangChain tool's, an MCP server's) may describe values it
    cannot check, such as objects; those are left to the tool, which validates its own arguments."""
    if (inner := _nullable(schema)) is not None:
        return None if value is None else _coerce(tool_name, name, value, inner)
    kind = schema.get("type")
    if not isinstance(kind, str) or (kind not in _SCALARS and kind != "array"):
        return value
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
        item_schema = typing.cast(Mapping[str, object], schema.get("items", {}))
        return [_coerce(tool_name, f"{name}[{i}]", v, item_schema) for i, v in enumerate(value)]
    return value
