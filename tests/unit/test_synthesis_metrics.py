"""The synthesis figures on a small world whose right values are known (evals/_harness/synthesis_metrics)."""

from __future__ import annotations

from synthswarm.evals._harness.synthesis_metrics import (
    Brought,
    Made,
    Parent,
    cross_agent_gold_pairs,
    figures,
    useful_pairs,
)

# Paragraphs a, b, c, d, e, f; agent 0 holds a, c, d; agent 1 holds b, e; agent 2 holds f.
HOLDERS = {"a": 0, "b": 1, "c": 0, "d": 0, "e": 1, "f": 2}
# q1 needs a and b (two agents), q2 c and d (one agent), q3 e and f (two agents).
GOLD = [("a", "b"), ("c", "d"), ("e", "f")]
MADE = {
    b"s1": Made(1, (Parent(0, "a"), Parent(1, "b"))),  # q1's pair: useful
    b"s1b": Made(0, (Parent(1, "b"), Parent(0, "a"))),  # the same pair again: still one
    b"s2": Made(0, (Parent(0, "c"), Parent(0, "d"))),  # q2's pair, but one agent holds both
    b"s3": Made(2, (Parent(2, None), Parent(1, "e"))),  # a synthesis of a synthesis: no direct pair
    b"s4": Made(2, (Parent(2, "f"), Parent(0, "a"))),  # two paragraphs no question pairs
}
BROUGHT = [
    [Brought(b"s1", ("b",), "b's text")],  # q1: another agent's synthesis brought gold b
    [Brought(b"s2", ("c",), "c's text")],  # q2: the answerer's own synthesis brought gold c
    [
        Brought(b"s4", ("x",), "It premiered in Caldmoor."),  # no gold, but where the answer is
        Brought(b"shared-answer", ("e",), "e's text"),  # a claim that is no synthesis of the run
    ],
]
ANSWERERS = [0, 0, 1]


def test_useful_counts_distinct_cross_agent_gold_pairs_of_direct_parents() -> None:
    assert useful_pairs(MADE.values(), GOLD) == {frozenset({"a", "b"})}
    assert cross_agent_gold_pairs(GOLD, HOLDERS) == {frozenset({"a", "b"}), frozenset({"e", "f"})}


def test_used_counts_what_a_synthesis_changed_and_own_syntheses_apart() -> None:
    found = figures(MADE, GOLD, BROUGHT, ANSWERERS, HOLDERS, ["x", "y", "Caldmoor"])
    assert (found.useful, found.ceiling) == (1, 2)
    assert found.used == round(2 / 3, 4)  # q1 (gold b) and q3 (the chosen answer's passage)
    assert found.used_own == round(1 / 3, 4)  # q2
    assert found.pairs == 2  # {0, 1} from s1 and {0, 2} from s4; s2 joins one agent to itself
    unanswered = figures(MADE, GOLD, BROUGHT, ANSWERERS, HOLDERS)
    assert unanswered.used == round(1 / 3, 4)  # without answers only q1 counts
    nothing = figures({}, GOLD, [[], [], []], ANSWERERS, HOLDERS)
    assert (nothing.useful, nothing.used, nothing.used_own, nothing.pairs) == (0, 0.0, 0.0, 0)
    assert nothing.ceiling == 2
