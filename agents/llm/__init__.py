"""Chat models behind one protocol.

- :class:`ChatModel`: the protocol (async ``complete`` and ``stream``, typed messages, token counts).
- :class:`LocalChat`: transformers in this process, the embedded SmolLM2-135M-Instruct by default;
  concurrent requests are generated in one batch by a shared :class:`LocalEngine`.
- :class:`OpenAIChat`: any OpenAI-compatible server.
- :class:`LangChainChat`: any langchain-core chat model (``BaseChatModel``), batching concurrent calls
  into one ``abatch`` where the model implements it.
- :class:`ScriptedChat`: a fake for tests.
- :class:`RecordingChat` and :class:`ReplayChat`: record any model's replies to a file, and answer from
  it offline (:mod:`synthswarm.agents.llm.recorded`).

:func:`make_chat_model` builds the one a :class:`~synthswarm.swarm.config.LLMConfig` describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from synthswarm.agents.llm._types import (
    ChatChunk,
    ChatMessage,
    ChatModel,
    ChatResult,
    Extract,
    FinishReason,
    GenerationOptions,
    Role,
    ToolCall,
    ToolSpec,
    Usage,
)
from synthswarm.agents.llm._wrapping import WrappedChat, word_chunks
from synthswarm.agents.llm.langchain_chat import LangChainChat
from synthswarm.agents.llm.local import BatchStats, LocalChat, LocalEngine, default_cache_dir
from synthswarm.agents.llm.openai_chat import DEFAULT_OPENAI_MODEL, OpenAIChat
from synthswarm.agents.llm.recorded import RecordingChat, ReplayChat
from synthswarm.agents.llm.scripted import Reply, ScriptedCall, ScriptedChat
from synthswarm.swarm.config import LLMConfig
from synthswarm.swarm.errors import ConfigError

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "BatchStats",
    "ChatChunk",
    "ChatMessage",
    "ChatModel",
    "ChatResult",
    "Extract",
    "FinishReason",
    "GenerationOptions",
    "LangChainChat",
    "LocalChat",
    "LocalEngine",
    "OpenAIChat",
    "RecordingChat",
    "ReplayChat",
    "Reply",
    "Role",
    "ScriptedCall",
    "ScriptedChat",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "WrappedChat",
    "default_cache_dir",
    "make_chat_model",
    "word_chunks",
]


def make_chat_model(config: LLMConfig) -> ChatModel:
    """The chat model ``config`` describes (the local one shares its engine process-wide), recording
    its calls to ``llm.recording`` if set; backend ``replay`` answers from that file instead."""
    if config.backend == "replay":
        return ReplayChat(_recording_to_replay(config), name=config.model or None)
    model = _backend_model(config)
    return RecordingChat(model, Path(config.recording).expanduser()) if config.recording else model


def _recording_to_replay(config: LLMConfig) -> Path:
    if not config.recording:
        raise ConfigError("llm.recording", "backend replay answers from a recording: set it to a file")
    path = Path(config.recording).expanduser()
    if not path.is_file():
        raise ConfigError(
            "llm.recording", f"no recording at {path}: record one first with backend local or openai"
        )
    return path


def _backend_model(config: LLMConfig) -> ChatModel:
    defaults = GenerationOptions(max_tokens=config.max_tokens, temperature=config.temperature)
    if config.backend == "openai":
        return OpenAIChat(
            model=config.model or DEFAULT_OPENAI_MODEL,
            base_url=config.base_url or None,
            api_key=config.api_key or None,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            defaults=defaults,
        )
    cache_dir: Path | Literal[False] | None = None
    if config.cache_dir == "off":
        cache_dir = False
    elif config.cache_dir:
        cache_dir = Path(config.cache_dir).expanduser()
    return LocalChat.from_path(
        config.model or None,
        cache_dir=cache_dir,
        max_batch=config.batch_size,
        batch_wait_ms=config.batch_wait_ms,
        defaults=defaults,
    )
