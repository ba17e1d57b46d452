"""Typed functions agents can call.

- :func:`tool` turns a typed, documented function into a :class:`Tool` whose JSON schema comes from
  the signature and the docstring; ``tool.spec`` is what an OpenAI-compatible model receives.
- :class:`ToolSpec`: what a model is told about a tool (``agents.llm`` re-exports it).
- :func:`agent_tools` gives the built-ins bound to an agent: ``search_knowledge``, ``search_inbox``,
  ``ask_swarm`` and ``calculator``.

A tool that fails raises :class:`~swarm.errors.ToolError`; agents hand its message back to the model.
"""

from tools._spec import ToolSpec
from tools._tool import MAX_RESULT_CHARS, Tool, tool
from tools.builtin import KnowledgeAgent, agent_tools, calculator

__all__ = [
    "MAX_RESULT_CHARS",
    "KnowledgeAgent",
    "Tool",
    "ToolSpec",
    "agent_tools",
    "calculator",
    "tool",
]
