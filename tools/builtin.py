"""The tools every specialist gets: search its knowledge, search its inbox, ask the swarm, calculate."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Protocol

from synthswarm.swarm.errors import ToolError
from synthswarm.tools._tool import Tool, tool

__all__ = ["KnowledgeAgent", "agent_tools", "calculator"]

_MAX_EXPRESSION_CHARS = 400
_MAX_EXPONENT = 1000
_MAX_INT_BITS = 4096
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
}


class KnowledgeAgent(Protocol):
    """What the agent tools need from an agent (a :class:`~synthswarm.agents.specialist.Specialist` is
    one)."""

    async def search_knowledge(self, query: str, k: int) -> list[str]: ...

    async def search_inbox(self, query: str, k: int) -> list[str]: ...

    async def ask_swarm(self, question: str) -> list[str]: ...


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly as written and return the number.

    Args:
        expression: Numbers, + - * / // % **, parentheses, and sqrt, log, exp, abs, round, min, max.
    """
    if len(expression) > _MAX_EXPRESSION_CHARS:
        raise ToolError(f"calculator: expression longer than {_MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"calculator: not an arithmetic expression ({exc.msg})") from exc
    value = _evaluate(tree.body)
    return (
        str(int(value))
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15
        else str(value)
    )


def agent_tools(agent: KnowledgeAgent, *, k: int = 4) -> list[Tool]:
    """The built-in tools bound to ``agent``: ``search_knowledge``, ``search_inbox``, ``ask_swarm`` and
    ``calculator``."""

    @tool
    async def search_knowledge(query: str) -> str:
        """Search your own documents for passages about the query.

        Args:
            query: What to look for, in a few words.
        """
        return _lines(await agent.search_knowledge(query, k))

    @tool
    async def search_inbox(query: str) -> str:
        """Search the findings other agents have sent you.

        Args:
            query: What to look for, in a few words.
        """
        return _lines(await agent.search_inbox(query, k))

    @tool
    async def ask_swarm(question: str) -> str:
        """Ask the other agents of the swarm a question and return the findings they reply with.

        Args:
            question: A self-contained question.
        """
        return _lines(await agent.ask_swarm(question))

    return [search_knowledge, search_inbox, ask_swarm, calculator]


def _lines(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) if items else "(nothing found)"


def _evaluate(node: ast.expr) -> float:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ToolError(f"calculator: exponent above {_MAX_EXPONENT}")
        try:
            return _bounded(_BINARY[type(node.op)](left, right))
        except (ArithmeticError, ValueError) as exc:
            raise ToolError(f"calculator: {exc}") from exc
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        try:
            return float(_FUNCTIONS[node.func.id](*(_evaluate(a) for a in node.args)))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise ToolError(f"calculator: {node.func.id}: {exc}") from exc
    raise ToolError(f"calculator: unsupported syntax {ast.unparse(node)!r}")


def _bounded(value: float) -> float:
    """Refuse integers so large that the next operation could take the process down with it."""
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ToolError(f"calculator: a number above 2**{_MAX_INT_BITS}")
    return value
