"""What a sweep is told: its sizes, strategies and protocol (:class:`SweepSettings`), and its models as
configuration (:class:`ModelSpec`), so that a worker process can build its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from synthswarm.evals.harness import ALL_STRATEGIES
from synthswarm.swarm.config import EmbedderConfig, LLMConfig
from synthswarm.swarm.errors import ConfigError

__all__ = ["LLM_CHOICES", "PROTOCOLS", "ModelSpec", "SweepSettings"]

LLM_CHOICES = ("none", "local", "openai")
PROTOCOLS = ("split", "growing")


@dataclass(frozen=True)
class SweepSettings:
    sizes: tuple[int, ...]
    strategies: tuple[str, ...]
    seed: int = 0
    llm: str = "none"
    jobs: int = 1
    """Runs at once, each in its own process (one per core is the most that helps)."""
    protocol: str = "split"
    """``split``: the whole corpus split among N agents. ``growing``: N agents of ``share`` paragraphs
    each, the corpus and its questions growing with N (:meth:`synthswarm.evals.datasets.Dataset.growing`)."""
    share: int = 30
    """Paragraphs per agent in the growing protocol."""
    ray: str | None = None
    """Run each run as a Ray task on this cluster (``auto``, ``local`` or a cluster's address, as
    :func:`synthswarm.swarm.cluster.ray_shards.connect` takes it), ``jobs`` at once, instead of in a pool of
    this machine's processes. Results come back to this process, which writes ``OUT``; with a model,
    each worker machine keeps its own response cache under the same ``OUT`` path. With ``processes``
    > 1 Ray places the spread runs' shards instead: each run is driven from here (or a ``jobs`` pool
    worker), and its other ``processes - 1`` slices of agents are Ray actors."""

    processes: int = 1
    """Processes each run's agents are spread over, sharing one DHT (the oracle, one agent, runs in
    one); 1: every node in one process, on ``inproc://``."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in ALL_STRATEGIES]
        if unknown:
            raise ConfigError(
                "eval.strategies", f"unknown {', '.join(unknown)}: use {', '.join(ALL_STRATEGIES)}"
            )
        if not self.strategies:
            raise ConfigError("eval.strategies", "name at least one strategy")
        if not self.sizes or min(self.sizes) < 2:
            raise ConfigError("eval.sizes", f"sizes must be 2 or more, got {list(self.sizes)}")
        if self.llm not in LLM_CHOICES:
            raise ConfigError("eval.llm", f"unknown model {self.llm!r}: use {', '.join(LLM_CHOICES)}")
        if self.jobs < 1:
            raise ConfigError("eval.jobs", f"must be at least 1, got {self.jobs}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError("eval.protocol", f"unknown {self.protocol!r}: use {', '.join(PROTOCOLS)}")
        if self.share < 1:
            raise ConfigError("eval.share", f"must be at least 1, got {self.share}")
        if self.processes < 1:
            raise ConfigError("eval.processes", f"must be at least 1, got {self.processes}")


@dataclass(frozen=True)
class ModelSpec:
    """The models a run uses, as configuration (so a worker process can build its own)."""

    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    llm: LLMConfig | None = None
    """None: no model answers (evidence metrics only)."""

    def describe(self) -> str:
        """The model, as the results name it (answers are capped by the agents' ``max_tokens``)."""
        if self.llm is None:
            return "none"
        default = "embedded SmolLM2-135M" if self.llm.backend == "local" else "default"
        return f"{self.llm.backend}:{self.llm.model or default}"

    def key(self) -> str:
        """What of the model decides a run's figures, for the run cache."""
        if self.llm is None:
            return "none"
        return f"{self.llm.backend}:{self.llm.model or 'default'}:max_tokens={self.llm.max_tokens}"
