"""``bench simulate``'s honesty checks: a size that cannot fit is refused with the measured cost, and
the figures say what was real code and what was constructed."""

from __future__ import annotations

from synthswarm.swarm.app.bench.simulate import fit, method

BASE = {"agents": 1024, "memory_per_agent_kib": 400.0, "cpu_s": 30.0}


def test_a_size_that_fits_is_run_and_one_that_does_not_is_refused_with_the_measured_cost() -> None:
    assert fit(BASE, 16_384, available=20 * 2**30) is None
    blocked = fit(BASE, 1_048_576, available=20 * 2**30)
    assert blocked is not None
    assert blocked["memory_needed_gib"] == 400.0
    assert "400.0 KiB per agent measured at N=1024" in blocked["why"]
    assert "--nodes lazy" in blocked["why"]  # the way past it
    assert blocked["largest_n_that_fits"] == int(0.8 * 20 * 2**30 / (400 * 1024))
    assert blocked["cpu_s_estimated"] == round(30 * 1024 * 20 / 10)


def test_the_method_says_what_is_real_code_and_what_is_constructed() -> None:
    assert "constructed" in method("constructed")
    assert "real joins" in method("joined")
    assert "DHTRouter subscribe and publish" in method("constructed")


def test_the_method_states_each_shortcut_taken() -> None:
    assert "placed" not in method("constructed")
    placed = method("constructed", "placed")
    assert "placed, not subscribed" in placed
    assert "lazy" not in placed
    assert "a node starts when a request first reaches it" in method("constructed", "placed", "lazy")
