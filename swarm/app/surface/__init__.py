"""synthswarm: LLM agents that form a synthesis swarm.

The curated public surface. Everything else lives one floor down, under three folders of the repository that
install inside this namespace (GUIDE section 2):

- ``synthswarm.swarm``: the network floor (the ZeroMQ Kademlia DHT, routers, packets, identities, admission,
  config, errors); it knows nothing of agents or LLMs;
- ``synthswarm.agents`` and ``synthswarm.tools``: who thinks (chat models, embedders, memory,
  specialists, asking, synthesis, the dispatcher) and what they may call;
- ``synthswarm.swarm.app`` and ``synthswarm.evals``: the applications (the runtime, the CLI, the servers, the
  demo, the benchmarks, the eval harness).

Names are imported on first use, so ``import synthswarm.swarm.dht`` in a DHT-only process does not load the
models, LangGraph or Chroma::

    from synthswarm import HashingEmbedder, ScriptedChat, Swarm, tool
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synthswarm.agents.approval import ApprovalRequired, Decision
    from synthswarm.agents.embeddings import Embedder, HashingEmbedder, LocalEmbedder, OpenAIEmbedder
    from synthswarm.agents.llm import (
        ChatModel,
        LangChainChat,
        LocalChat,
        OpenAIChat,
        RecordingChat,
        ReplayChat,
        ScriptedChat,
    )
    from synthswarm.agents.specialist import Specialist
    from synthswarm.swarm.app.runtime import AgentSpec, Swarm, SwarmAnswer, load_agents
    from synthswarm.swarm.config import Config, EmbedderConfig, LLMConfig, SwarmConfig, load_config
    from synthswarm.swarm.errors import (
        ConfigError,
        DHTError,
        ModelError,
        PacketError,
        SpecialistsFailedError,
        SwarmError,
        SynthswarmError,
        ToolError,
    )
    from synthswarm.swarm.identity import Identity
    from synthswarm.swarm.packet import OutcomePacket, make_packet
    from synthswarm.swarm.routers import Router, make_router
    from synthswarm.tools import Tool, tool
    from synthswarm.tools.mcp import MCPServerConfig

#: Where each public name is defined; read by :func:`__getattr__` on first use.
_WHERE: dict[str, str] = {
    "ApprovalRequired": "synthswarm.agents.approval",
    "Decision": "synthswarm.agents.approval",
    "Embedder": "synthswarm.agents.embeddings",
    "HashingEmbedder": "synthswarm.agents.embeddings",
    "LocalEmbedder": "synthswarm.agents.embeddings",
    "OpenAIEmbedder": "synthswarm.agents.embeddings",
    "ChatModel": "synthswarm.agents.llm",
    "LangChainChat": "synthswarm.agents.llm",
    "LocalChat": "synthswarm.agents.llm",
    "OpenAIChat": "synthswarm.agents.llm",
    "RecordingChat": "synthswarm.agents.llm",
    "ReplayChat": "synthswarm.agents.llm",
    "ScriptedChat": "synthswarm.agents.llm",
    "Specialist": "synthswarm.agents.specialist",
    "AgentSpec": "synthswarm.swarm.app.runtime",
    "Swarm": "synthswarm.swarm.app.runtime",
    "SwarmAnswer": "synthswarm.swarm.app.runtime",
    "load_agents": "synthswarm.swarm.app.runtime",
    "Config": "synthswarm.swarm.config",
    "EmbedderConfig": "synthswarm.swarm.config",
    "LLMConfig": "synthswarm.swarm.config",
    "SwarmConfig": "synthswarm.swarm.config",
    "load_config": "synthswarm.swarm.config",
    "ConfigError": "synthswarm.swarm.errors",
    "DHTError": "synthswarm.swarm.errors",
    "ModelError": "synthswarm.swarm.errors",
    "PacketError": "synthswarm.swarm.errors",
    "SpecialistsFailedError": "synthswarm.swarm.errors",
    "SwarmError": "synthswarm.swarm.errors",
    "SynthswarmError": "synthswarm.swarm.errors",
    "ToolError": "synthswarm.swarm.errors",
    "Identity": "synthswarm.swarm.identity",
    "OutcomePacket": "synthswarm.swarm.packet",
    "make_packet": "synthswarm.swarm.packet",
    "Router": "synthswarm.swarm.routers",
    "make_router": "synthswarm.swarm.routers",
    "Tool": "synthswarm.tools",
    "tool": "synthswarm.tools",
    "MCPServerConfig": "synthswarm.tools.mcp",
}

__all__ = [
    "AgentSpec",
    "ApprovalRequired",
    "ChatModel",
    "Config",
    "ConfigError",
    "DHTError",
    "Decision",
    "Embedder",
    "EmbedderConfig",
    "HashingEmbedder",
    "Identity",
    "LLMConfig",
    "LangChainChat",
    "LocalChat",
    "LocalEmbedder",
    "MCPServerConfig",
    "ModelError",
    "OpenAIChat",
    "OpenAIEmbedder",
    "OutcomePacket",
    "PacketError",
    "RecordingChat",
    "ReplayChat",
    "Router",
    "ScriptedChat",
    "Specialist",
    "SpecialistsFailedError",
    "Swarm",
    "SwarmAnswer",
    "SwarmConfig",
    "SwarmError",
    "SynthswarmError",
    "Tool",
    "ToolError",
    "load_agents",
    "load_config",
    "make_packet",
    "make_router",
    "tool",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is read (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'synthswarm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
