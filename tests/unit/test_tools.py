"""Tools: JSON schema from signature and docstring, argument checking, and the calculator."""

from __future__ import annotations

import json
import re
from typing import Literal

import pytest
from langchain_core.utils.function_calling import convert_to_openai_function

from synthswarm.swarm.errors import ToolError
from synthswarm.tools import MAX_RESULT_CHARS, Tool, agent_tools, calculator, tool


@tool
async def lookup(
    city: str, year: int, units: Literal["metric", "imperial"] = "metric", tags: list[str] | None = None
) -> str:
    """Look up the weather of a city in a year.

    Args:
        city: Name of the city.
        year: Four-digit year,
            for example 1902.
        units: Unit system.

    Returns:
        A sentence.
    """
    return f"{city} {year} {units} {tags}"


class _Thing:
    """A class pydantic cannot put in a JSON schema."""


def test_schema_comes_from_signature_and_docstring() -> None:
    assert lookup.name == "lookup"
    assert lookup.description == "Look up the weather of a city in a year."
    # langchain-core's converter writes defaults, and an optional list as "array or null".
    assert lookup.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Name of the city."},
            "year": {"type": "integer", "description": "Four-digit year, for example 1902."},
            "units": {
                "type": "string",
                "enum": ["metric", "imperial"],
                "default": "metric",
                "description": "Unit system.",
            },
            "tags": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "default": None,
            },
        },
        "required": ["city", "year"],
    }
    assert lookup.parameters == convert_to_openai_function(lookup.fn)["parameters"]
    spec = lookup.spec.to_openai()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "lookup"  # type: ignore[index]


async def test_call_accepts_json_or_mapping_and_coerces_numeric_text() -> None:
    assert await lookup.call('{"city": "Caldmoor", "year": 1902}') == "Caldmoor 1902 metric None"
    assert (
        await lookup.call('{"city": "Caldmoor", "year": 1902, "tags": null}') == "Caldmoor 1902 metric None"
    )
    assert (
        await lookup.call({"city": "Brennick", "year": "1921", "units": "imperial"})
        == "Brennick 1921 imperial None"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"city": "x"}', "missing argument(s) year"),
        ('{"city": "x", "year": 1, "colour": "red"}', "unknown argument(s) colour"),
        ('{"city": 3, "year": 1}', "'city' must be a string"),
        ('{"city": "x", "year": 1.5}', "'year' must be an integer"),
        ('{"city": "x", "year": 1, "units": "kelvin"}', "must be one of"),
        ('{"city": "x", "year": 1, "tags": [1]}', "'tags[0]' must be a string"),
    ],
)
async def test_bad_arguments_raise_tool_errors_the_model_can_read(arguments: str, message: str) -> None:
    with pytest.raises(ToolError, match=re.escape(message)):
        await lookup.call(arguments)


def test_functions_that_cannot_be_described_are_refused_at_definition() -> None:
    def untyped(x):  # type: ignore[no-untyped-def]
        """Does things."""

    def no_doc(x: int) -> int:
        return x

    def odd_type(x: dict[str, int]) -> int:
        """Does things."""
        return 0

    def either(x: int | str) -> int:
        """Does things."""
        return 0

    def some_list(x: list) -> int:  # type: ignore[type-arg]
        """Does things."""
        return 0

    def of_a_class(x: _Thing) -> int:
        """Does things."""
        return 0

    def splat(*xs: int) -> int:
        """Does things."""
        return 0

    with pytest.raises(ToolError, match="needs a type annotation"):
        tool(untyped)
    with pytest.raises(ToolError, match="docstring"):
        tool(no_doc)
    with pytest.raises(ToolError, match=r"odd_type\.x: cannot describe type dict\[str, int\]"):
        tool(odd_type)
    with pytest.raises(ToolError, match=r"either\.x: cannot describe type"):
        tool(either)
    with pytest.raises(ToolError, match=r"some_list\.x: cannot describe type"):
        tool(some_list)
    with pytest.raises(ToolError, match="of_a_class: cannot describe its parameters"):
        tool(of_a_class)
    with pytest.raises(ToolError, match=r"\*args and \*\*kwargs"):
        tool(splat)


async def test_literal_integers_are_described_and_checked() -> None:
    @tool
    def pick(level: Literal[1, 2, 3] = 1) -> str:
        """Pick a level.

        Args:
            level: How deep.
        """
        return str(level)

    assert pick.parameters["properties"] == {
        "level": {"type": "integer", "enum": [1, 2, 3], "default": 1, "description": "How deep."}
    }
    assert pick.parameters["required"] == []
    assert await pick.call({"level": "2"}) == "2"
    with pytest.raises(ToolError, match="must be one of"):
        await pick.call({"level": 4})


def test_closures_of_one_function_share_a_schema_but_not_its_dict() -> None:
    def make(k: int) -> Tool:
        @tool
        def search(query: str) -> str:
            """Search.

            Args:
                query: What for.
            """
            return query * k

        return search

    first, second = make(1), make(2)
    assert first.parameters == second.parameters
    first.parameters["properties"] = {}
    assert second.parameters["properties"] == {"query": {"type": "string", "description": "What for."}}


async def test_arguments_a_foreign_schema_describes_but_we_cannot_check_reach_the_tool() -> None:
    async def echo(n: int, options: object = None, any_list: object = None) -> str:
        return json.dumps([options, n])

    parameters: dict[str, object] = {
        "type": "object",
        "properties": {
            "options": {"type": ["object", "null"]},
            "n": {"type": "integer"},
            "any_list": {"type": "array"},
        },
        "required": ["n"],
    }
    foreign = Tool("echo", "Echo.", parameters, echo)
    assert await foreign.call({"options": {"a": 1}, "n": "3"}) == '[{"a": 1}, 3]'
    assert await foreign.call({"n": 1, "any_list": [1, "x"]}) == "[null, 1]"
    with pytest.raises(ToolError, match="'n' must be an integer"):
        await foreign.call({"n": "three"})


async def test_a_failing_tool_raises_tool_error_and_results_are_capped() -> None:
    @tool(name="explode")
    def boom(n: int) -> str:
        """Fail on purpose."""
        if n:
            raise RuntimeError("kaput")
        return "x" * (MAX_RESULT_CHARS + 10)

    assert boom.name == "explode"
    with pytest.raises(ToolError, match="explode failed: RuntimeError: kaput"):
        await boom.call({"n": 1})
    assert len(await boom.call({"n": 0})) == MAX_RESULT_CHARS


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("6 * 7", "42"),
        ("2 ** 10 + sqrt(16)", "1028"),
        ("-(3 - 5) / 4", "0.5"),
        ("max(1, 9, 4) % 5", "4"),
        ("7 // 2", "3"),
    ],
)
async def test_calculator(expression: str, result: str) -> None:
    assert await calculator.call({"expression": expression}) == result


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "unsupported syntax"),
        ("1 / 0", "division by zero"),
        ("9 ** 9 ** 9", "exponent above"),
        ("(10 ** 999) ** 999", "a number above"),
        ("1 +", "not an arithmetic expression"),
        ("x + 1", "unsupported syntax"),
        ("sqrt(-1)", "sqrt"),
        ("1" * 500, "longer than"),
    ],
)
async def test_calculator_refuses_what_is_not_safe_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await calculator.call({"expression": expression})


class _Agent:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def search_knowledge(self, query: str, k: int) -> list[str]:
        self.calls.append(("knowledge", query))
        return ["fact one", "fact two"][:k]

    async def search_inbox(self, query: str, k: int) -> list[str]:
        self.calls.append(("inbox", query))
        return []

    async def ask_swarm(self, question: str) -> list[str]:
        self.calls.append(("swarm", question))
        return ["a reply"]


async def test_agent_tools_are_bound_to_their_agent() -> None:
    agent = _Agent()
    tools = {t.name: t for t in agent_tools(agent, k=1)}
    assert set(tools) == {"search_knowledge", "search_inbox", "ask_swarm", "calculator"}
    assert await tools["search_knowledge"].call({"query": "q"}) == "- fact one"
    assert await tools["search_inbox"].call({"query": "q"}) == "(nothing found)"
    assert await tools["ask_swarm"].call({"question": "who?"}) == "- a reply"
    assert agent.calls == [("knowledge", "q"), ("inbox", "q"), ("swarm", "who?")]
