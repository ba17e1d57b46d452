"""Loading a local model's files: a GGUF file or a transformers folder, offline, with a cache of the
weights a GGUF converts to (so only the first load pays for de-quantizing)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from synthswarm.swarm.errors import ModelNotFoundError

__all__ = ["default_cache_dir", "load_model_files"]

# The public module's name, the one users configure logging by.
log = logging.getLogger("synthswarm.agents.llm.local")


def default_cache_dir() -> Path:
    """Where converted GGUF models are kept: ``$XDG_CACHE_HOME/synthswarm/models`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "synthswarm" / "models"


def load_model_files(path: Path, cache_dir: Path | None) -> tuple[Any, Any]:
    """Load tokenizer and model from a GGUF file or a transformers folder, offline.

    De-quantizing a GGUF takes about 20 s here, loading the same weights as safetensors well under one;
    so the first load of a GGUF saves the converted weights under ``cache_dir`` (keyed by the file's
    name and SHA-256) and later loads read those. The weights are the same either way.
    """
    cached = _cache_entry(path, cache_dir) if path.is_file() and cache_dir else None
    if cached is not None and (cached / "config.json").is_file():
        return _from_pretrained(cached, cached, {})
    folder, extra = (path.parent, {"gguf_file": path.name}) if path.is_file() else (path, {})
    tokenizer, model = _from_pretrained(path, folder, extra)
    if cached is not None:
        _save_converted(tokenizer, model, cached)
    return tokenizer, model


def _from_pretrained(path: Path, folder: Path, extra: dict[str, str]) -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelNotFoundError(
            f"transformers and torch are needed for the local LLM ({exc}); install them with: "
            "pip install torch==2.13.0 && pip install synthswarm"
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **extra)
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, **extra)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load a causal LM from {path}: {exc}") from exc
    model.eval()  # type: ignore[no-untyped-call]
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def _cache_entry(path: Path, cache_dir: Path) -> Path:
    # Keyed by content (about 0.15 s for the 98 MB GGUF), so a reinstalled package reuses the entry.
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return cache_dir / f"{path.stem}-{digest.hexdigest()[:16]}"


def _save_converted(tokenizer: Any, model: Any, target: Path) -> None:
    """Write the de-quantized model as safetensors; a failure only costs the next load its speed."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # transformers refuses to save a model it loaded from GGUF; the weights it holds are plain
        # float32 tensors by now, so drop the GGUF marker and save them as an ordinary checkpoint.
        model.hf_quantizer = None
        model.config.__dict__.pop("quantization_config", None)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        tmp.rename(target)
        log.info("cached the converted model at %s", target)
    except (OSError, ValueError) as exc:
        log.warning("could not cache the converted model at %s: %s", target, exc)
        shutil.rmtree(tmp, ignore_errors=True)
