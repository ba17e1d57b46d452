"""ToolSpec: what a model is told about a tool, as OpenAI function calling describes it.

It lives in ``tools/`` because tool schemas are built here; ``synthswarm.agents.llm`` re-exports it so chat
backends and their callers keep one name for it, and ``tools`` imports nothing from ``agents``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ToolSpec"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call, as OpenAI function calling describes it."""

    name: str
    description: str
    parameters: dict[str, object]
    """JSON schema of the arguments object."""

    def to_openai(self) -> dict[str, object]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }
