"""A specialist's settings and its counters: what it is told, and what it has done."""

from __future__ import annotations

from dataclasses import dataclass, field

from synthswarm.agents.asking import AskSettings
from synthswarm.agents.retrieval import LEXICAL_WEIGHT
from synthswarm.swarm.errors import ConfigError

__all__ = ["DEFAULT_INSTRUCTIONS", "SpecialistSettings", "SpecialistStats"]

#: Measured best of four prompts for SmolLM2-135M on the demo's questions (a plain system line).
DEFAULT_INSTRUCTIONS = "Answer with a short phrase taken from the text."


@dataclass(frozen=True)
class SpecialistSettings:
    asking: AskSettings = field(default_factory=AskSettings)
    """Rounds, context budget and bridging of :func:`synthswarm.agents.asking.ask`."""
    relevance: float = 0.3
    """Least score (:mod:`synthswarm.agents.retrieval`) for a passage to be offered in reply to a query,
    and least cosine for a packet to bear on an open task."""
    ask_swarm: bool = True
    """Whether :meth:`Specialist.answer` sends query packets and waits for replies."""
    ask_timeout_s: float = 5.0
    """Longest wait for the replies agents promised when the query reached them. The wait ends as
    soon as every promised reply has come; this only bounds a broken promise, and each time it runs
    out is counted (:attr:`SpecialistStats.reply_timeouts`)."""
    lexical_weight: float = LEXICAL_WEIGHT
    """Weight of lexical (BM25) coverage beside the cosine in passage scores (0: dense only)."""
    max_open_tasks: int = 4
    """Open tasks kept in the interest profile (the oldest is dropped)."""
    share_answers: bool = True
    """Publish each answer as a finding packet."""
    synthesize: bool = True
    """Combine each received finding or synthesis that names what one of its own findings names with
    that finding (:mod:`synthswarm.agents.synthesis`), and publish the synthesis."""
    knowledge_rows: int = 3
    """Centroids of the agent's knowledge added to its interest profile (0: the description only)."""
    max_tool_rounds: int = 3
    max_tokens: int = 32
    extractive: bool = True
    """Short answers are chosen among phrases of the evidence (:mod:`synthswarm.agents.reading`) when
    the model supports it (``ChatModel.supports_extract``); a question that asks for explanation is
    still written freely."""
    focus_sentences: int = 3
    """Extractive answers: the sentences of the evidence the model reads and chooses from (for
    SmolLM2-135M on the HotpotQA sample, 3 read better than 2, 4 or all: evals/README.md)."""
    context_words: int = 400
    """Extractive answers: the words of the evidence, best first, whose sentences are focused on."""

    def __post_init__(self) -> None:
        if self.knowledge_rows < 0:
            raise ConfigError("agent.knowledge_rows", f"must be 0 or more, got {self.knowledge_rows}")
        for name in ("max_open_tasks", "max_tokens", "context_words", "focus_sentences"):
            if getattr(self, name) < 1:
                raise ConfigError(f"agent.{name}", f"must be at least 1, got {getattr(self, name)}")
        if not -1.0 <= self.relevance <= 1.0 + self.lexical_weight:
            raise ConfigError(
                "agent.relevance", f"must be a score in [-1, 1 + lexical_weight], got {self.relevance}"
            )
        if not self.ask_timeout_s > 0:
            raise ConfigError("agent.ask_timeout_s", f"must be positive, got {self.ask_timeout_s}")
        if self.lexical_weight < 0:
            raise ConfigError("agent.lexical_weight", f"must be 0 or more, got {self.lexical_weight}")


@dataclass
class SpecialistStats:
    received: dict[str, int] = field(default_factory=dict)
    replies_sent: int = 0
    relays_sent: int = 0
    """Queries this agent relayed to the author of a matching finding, having nothing to offer itself."""
    copies_offered: int = 0
    """Copies of findings it offered for authors a relay could not reach."""
    syntheses: int = 0
    """Link syntheses this agent made and published (:meth:`Specialist.synthesize_received`)."""
    synthesis_messages: int = 0
    """Routing requests its syntheses cost, as the router reported them."""
    syntheses_refused: int = 0
    """Links it found but did not synthesize, the budget being spent."""
    published: int = 0
    llm_calls: int = 0
    tokens: int = 0
    failed_queries: int = 0
    """Query packets the router could not send (a dead hub, say): that round used what was at hand."""
    reply_timeouts: int = 0
    """Queries whose wait for promised replies ran out (``ask_timeout_s``) before all of them came."""
    replies_missing: int = 0
    """Promised replies that had not come when those waits ran out."""
