"""OpenAIEmbedder: any OpenAI-compatible ``/v1/embeddings`` endpoint."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from synthswarm.agents._openai import async_openai_client
from synthswarm.agents.embeddings._types import Vectors, normalize_rows
from synthswarm.swarm.errors import ModelError, ModelResponseError, ModelUnavailableError

__all__ = ["DEFAULT_OPENAI_EMBEDDING_MODEL", "OpenAIEmbedder"]

DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"


class OpenAIEmbedder:
    """An :class:`~synthswarm.agents.embeddings.Embedder` over the ``openai`` package; vectors are
    re-normalised."""

    def __init__(
        self,
        *,
        model: str = DEFAULT_OPENAI_EMBEDDING_MODEL,
        dims: int,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self._model = model
        self._dims = dims
        self.batch_size = batch_size
        self.max_retries = max_retries
        self._client = client or async_openai_client(
            section="embedder",
            base_url=base_url,
            api_key=api_key,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )

    @property
    def name(self) -> str:
        return self._model

    @property
    def dims(self) -> int:
        return self._dims

    async def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            try:
                response = await self._client.embeddings.create(model=self._model, input=batch)
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise ModelUnavailableError(
                    f"no answer from the embeddings server at {self._client.base_url} after "
                    f"{self.max_retries + 1} attempt(s): {exc}"
                ) from exc
            except openai.OpenAIError as exc:
                raise ModelError(f"{self._client.base_url} refused the embeddings request: {exc}") from exc
            data = sorted(response.data, key=lambda d: d.index)
            if len(data) != len(batch) or any(len(d.embedding) != self._dims for d in data):
                raise ModelResponseError(
                    f"expected {len(batch)} embeddings of {self._dims} dims from {self._model}, got "
                    f"{len(data)} of {len(data[0].embedding) if data else 0}"
                )
            rows.extend(d.embedding for d in data)
        if not rows:
            return np.zeros((0, self._dims), dtype=np.float32)
        return normalize_rows(rows)

    async def aclose(self) -> None:
        await self._client.close()
