"""Typed functions agents can call.

- :func:`tool` turns a typed, documented function into a :class:`Tool` whose JSON schema comes from
  the signature and the docstring; ``tool.spec`` is what an OpenAI-compatible model receives.
- :func:`as_tools` accepts langchain-core tools (``@tool``, ``BaseTool``) beside ours, converting
  each with :func:`from_langchain`; :data:`AnyTool` is either kind.
- :class:`ToolSpec`: what a model is told about a tool (``synthswarm.agents.llm`` re-exports it).
- :func:`agent_tools` gives the built-ins bound to an agent: ``search_knowledge``, ``search_inbox``,
  ``ask_swarm`` and ``calculator``.

A tool that fails raises :class:`~synthswarm.swarm.errors.ToolError`; agents hand its message back to the
model.
"""

from synthswarm.tools._langchain import AnyTool, as_tools, from_langchain
from synthswarm.tools._spec import ToolSpec
from synthswarm.tools._tool import MAX_RESULT_CHARS, Tool, tool
from synthswarm.tools.builtin import KnowledgeAgent, agent_tools, calculator

__all__ = [
    "MAX_RESULT_CHARS",
    "AnyTool",
    "KnowledgeAgent",
    "Tool",
    "ToolSpec",
    "agent_tools",
    "as_tools",
    "calculator",
    "from_langchain",
    "tool",
]
