"""LangChain tools beside ours: a langchain-core ``BaseTool`` (``@tool`` makes one) as a :class:`Tool`.

The schema is the one LangChain gives the model for that tool (its ``tool_call_schema``, through the
same converter our own tools use), and a call goes through ``BaseTool.ainvoke``, so the tool's own
argument validation, callbacks and error handling run as they would under a LangChain agent. Its
failures, ``ToolException`` and pydantic's validation errors included, reach the model as
:class:`~synthswarm.swarm.errors.ToolError` like any other tool's.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_function

from synthswarm.swarm.errors import ToolError
from synthswarm.tools._tool import Tool

__all__ = ["AnyTool", "as_tools", "from_langchain"]

#: What agents accept as a tool: ours, or any langchain-core tool.
AnyTool = Tool | BaseTool


def from_langchain(lc_tool: BaseTool) -> Tool:
    """``lc_tool`` as a :class:`Tool` with its own name, description and argument schema."""
    described = convert_to_openai_function(lc_tool)
    parameters = typing.cast(dict[str, object], described.get("parameters") or {})
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    parameters.setdefault("required", [])

    async def run(**arguments: object) -> object:
        return await lc_tool.ainvoke(arguments)

    return Tool(lc_tool.name, str(described.get("description") or lc_tool.description), parameters, run)


def as_tools(tools: Iterable[AnyTool]) -> list[Tool]:
    """Ours as they are, LangChain's converted; anything else is refused with a :class:`ToolError`."""
    out: list[Tool] = []
    for item in tools:
        if isinstance(item, Tool):
            out.append(item)
        elif isinstance(item, BaseTool):
            out.append(from_langchain(item))
        else:
            raise ToolError(f"{item!r} is neither a synthswarm Tool nor a langchain-core BaseTool")
    return out
