"""The one place an ``openai.AsyncOpenAI`` client is built, for chat and embeddings alike."""

from __future__ import annotations

import openai

from synthswarm.swarm.errors import ConfigError

__all__ = ["async_openai_client"]

# Local OpenAI-compatible servers ignore the key, but the client insists on one.
_PLACEHOLDER_KEY = "not-needed"


def async_openai_client(
    *, section: str, base_url: str | None, api_key: str | None, timeout_s: float, max_retries: int
) -> openai.AsyncOpenAI:
    """A client with bounded retries; ``section`` (``llm``, ``embedder``) names the config keys in errors."""
    if not api_key and not base_url:
        raise ConfigError(
            f"{section}.api_key",
            f"the openai {section} backend needs an API key (OPENAI_API_KEY) or a base_url",
        )
    return openai.AsyncOpenAI(
        base_url=base_url or None,
        api_key=api_key or _PLACEHOLDER_KEY,
        timeout=timeout_s,
        max_retries=max_retries,
    )
