"""`synthswarm bench faults`, every section at a small size, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRED = (
    "churn20_delivery_rate", "churn50_delivery_rate", "churn20_lookup_success", "restart_records_lost",
    "restart_memories_lost", "forged_rejected_rate", "replayed_rejected_rate", "fuzz_inputs", "fuzz_crashes",
    "soak_packets", "soak_rss_growth_mb",
)  # fmt: skip


def test_bench_faults_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    args = [
        "--nodes", "16", "--packets", "24", "--attacks", "50", "--fuzz-inputs", "2000", "--http-inputs", "60",
        "--soak-packets", "400", "--soak-nodes", "8", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "synthswarm", "bench", "faults", *args],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    for key in REQUIRED:
        assert isinstance(figures[key], int | float), key
    assert figures["forged_rejected_rate"] == 1.0
    assert figures["replayed_rejected_rate"] == 1.0
    assert figures["impostor_rejected_rate"] == 1.0
    assert figures["honest_frame_answered"] is True
    assert figures["inbox_after_attacks"] == figures["originals_accepted"] == 50
    assert figures["fuzz_crashes"] == 0
    assert figures["fuzz_inputs"] >= 2000 + 200 + 60
    assert figures["restart_records_held"] == figures["restart_records_acked"] == 24
    assert figures["restart_memories_held"] == figures["restart_packets_acked"] == 24
    assert figures["restart_records_lost"] == figures["restart_memories_lost"] == 0
    assert figures["restart_same_identity"] is True
    assert figures["partition_lost"] == 0
    assert figures["partition_held_for_retry"] > 0  # the cut really held deliveries back
    assert figures["churn20_delivery_rate"] >= 0.9
    assert figures["churn50_delivery_rate"] >= 0.9
    assert figures["soak_packets"] == 400
    assert "rerun with: synthswarm bench faults" in " ".join(done.stdout.split())


def test_the_soak_on_one_shared_transport_host(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "synthswarm", "bench", "faults", "--only", "soak", "--soak-packets", "300",
         "--soak-nodes", "8", "--soak-hosts", "shared", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert (figures["soak_hosts"], figures["soak_packets"]) == ("shared", 300)
    assert figures["soak_deliveries"] > 0
    assert "--soak-hosts shared" in figures["command"]
    # The soak's rate against the raw pyzmq message rate of the same run.
    assert figures["zmq_msgs_per_s"] > figures["soak_packets_per_s"] > 0
    ratio = figures["soak_packets_per_s"] / figures["zmq_msgs_per_s"]
    assert figures["soak_over_zmq_msg_rate"] == pytest.approx(ratio, rel=0.01)


def test_bench_faults_refuses_an_unknown_section() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "synthswarm", "bench", "faults", "--only", "chaos"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "sections from authenticity, fuzz, churn, restart, partition, soak" in " ".join(
        done.stderr.split()
    )
