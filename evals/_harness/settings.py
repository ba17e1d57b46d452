"""What one run is told: its settings, the strategies it may run, and the answering agents' prompt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from synthswarm.agents.entry import ANSWERERS, DEFAULT_ANSWERER, SCAN
from synthswarm.agents.specialist import SpecialistSettings
from synthswarm.agents.synthesis import SynthesisSettings
from synthswarm.swarm.dht import DHTSettings
from synthswarm.swarm.errors import ConfigError
from synthswarm.swarm.routers import STRATEGIES

__all__ = [
    "ALL_STRATEGIES",
    "ANSWER_INSTRUCTIONS",
    "EVAL_BUDGET_PACKETS",
    "ORACLE",
    "Progress",
    "RunSettings",
]

ORACLE = "oracle"
#: HotpotQA answers are short spans; a small model left to itself answers in sentences, which EM
#: and F1 punish (on 20 sample questions with the oracle's context, SmolLM2-135M scored F1 0.063 with
#: this prompt against 0.043 with the agents' default one).
ANSWER_INSTRUCTIONS = "Answer with only the answer (a name, a number, a date, or yes or no), not a sentence."
ALL_STRATEGIES = (*STRATEGIES, ORACLE)
#: Called as a run advances: (stage, done, total).
Progress = Callable[[str, int, int], None]
#: The eval's synthesis budget window, in packets an agent received: ``budget`` (32) syntheses per 256.
EVAL_BUDGET_PACKETS = 256


@dataclass(frozen=True)
class RunSettings:
    m: int = 4
    """Agents each packet is delivered to (dht, hub)."""
    gossip_budget: int = 12
    """Forwards per gossip packet; the sweep sets it to the messages dht measured at the same N."""
    agent: SpecialistSettings = field(
        default_factory=lambda: SpecialistSettings(share_answers=False, synthesize=False)
    )
    """How each specialist retrieves, asks and answers. An asker waits until every promised reply has
    come, so no figure depends on how fast the machine is; ``ask_timeout_s`` (the default, 5 s) only
    bounds a broken promise, and each time it runs out is reported (the row's ``reply_timeouts``)."""
    dht: DHTSettings = field(
        default_factory=lambda: DHTSettings(initial_timeout_s=30.0, min_timeout_s=30.0, max_timeout_s=30.0)
    )
    """The nodes' protocol settings. Every node of a run lives in one process (``inproc://``), where
    nothing is lost on the way: a request with no answer yet is only slow, or its node dead (and a
    dead node's requests fail at once). So a request waits for its answer (30 s at most) instead of
    being timed out and sent again after 0.2 s, which on a loaded machine would change the requests
    counted, the rendezvous walked and the relays made (measured: ``python -m
    synthswarm.evals.load_check``)."""
    instructions: str = ANSWER_INSTRUCTIONS
    """The answering agents' system prompt when a model answers."""
    titles: bool = True
    """Learn paragraphs with their titles (embedded and searched); False is the ablation."""
    answerer: str = DEFAULT_ANSWERER
    """Who answers (:mod:`synthswarm.agents.entry`): ``entry`` (the seeded entry agent itself; the default),
    ``routed`` (the best bidder to the entry's query, handed the question), or the oracle ablations
    ``scan`` (the agent holding the best passage, found by reading every agent: counted as look-ups)
    and ``profile`` (the closest interest profile, likewise)."""
    isolated_answerer: str = SCAN
    """Who answers in the ``isolated`` baseline ("": the same rule as the others). Isolated agents
    route nothing, so under ``entry`` or ``routed`` the entry agent would answer alone: a weak
    baseline that would inflate closure. The scan gives the strongest isolated agent instead."""
    handoff_timeout_s: float = 60.0
    """Longest wait for a handed question's context; when it fires the entry agent answers and the
    row counts it (``handoffs_failed``). It is not a tuning knob: handed contexts arrive on events."""
    kill: float = 0.0
    """Fraction of the nodes killed after publishing and before asking."""
    protocol: str = "split"
    """``split`` (one corpus split among N) or ``growing`` (the corpus grows with N); rows say which."""
    synthesis: bool = False
    """Settle after publishing: every agent combines what it received with what it knows
    (:meth:`~synthswarm.agents.specialist.Specialist.synthesize_received`) before the questions are asked."""
    synthesis_bounds: SynthesisSettings = field(
        default_factory=lambda: SynthesisSettings(entities="spacy", budget_window_packets=EVAL_BUDGET_PACKETS)
    )
    """Each agent's synthesis bounds and entity source (spaCy's NER). The budget counts packets
    received (an event clock), never seconds, so no machine's speed decides how many syntheses an agent
    may make; the agents of a run share this one object, so spaCy loads once and each packet's
    entities are found once."""

    def __post_init__(self) -> None:
        for name in ("answerer", "isolated_answerer"):
            value = getattr(self, name)
            if value not in ANSWERERS and not (name == "isolated_answerer" and value == ""):
                raise ConfigError(f"eval.{name}", f"unknown {value!r}: use {', '.join(ANSWERERS)}")
