"""Fuzzing every decoder of untrusted bytes: the mutational fuzzer (a small run of the benchmark's)
and hypothesis on the application payload decoders."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import msgpack
from hypothesis import given, settings

from synthswarm.swarm.app._fuzz_targets import PAYLOAD_DECODERS
from synthswarm.swarm.app.fuzz import (
    FuzzReport,
    _try,
    byte_targets,
    fuzz_journal,
    fuzz_live_node,
    run_byte_fuzz,
)
from synthswarm.swarm.errors import ProtocolError
from tests.unit.strategies import msgpack_values


def test_mutated_inputs_never_crash_a_decoder() -> None:
    report = run_byte_fuzz(5000, seed=7)
    assert report.inputs == 5000
    assert set(report.per_target) == set(byte_targets())
    assert report.crashes == []


def test_the_fuzzer_reports_an_unexpected_exception() -> None:
    report = FuzzReport()

    def buggy(data: bytes) -> None:
        raise KeyError(data[:1])

    _try(report, "buggy", buggy, (ProtocolError,), b"\x01")
    _try(report, "buggy", lambda d: (_ for _ in ()).throw(ProtocolError("fine")), (ProtocolError,), b"\x02")
    assert [c.error.split(":")[0] for c in report.crashes] == ["KeyError"]
    assert report.crashes[0].input_hex == "01"


async def test_a_live_node_survives_mutated_frames() -> None:
    report = await fuzz_live_node(1500, seed=3)
    assert report.inputs == 1500
    assert report.crashes == []


def test_a_torn_or_garbled_journal_never_raises(tmp_path: Path) -> None:
    report = fuzz_journal(800, seed=5, directory=tmp_path)
    assert report.crashes == []


@given(msgpack_values)
@settings(max_examples=600, deadline=None)
def test_application_payload_decoders_raise_only_protocol_errors(value: object) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    for decode in itertools.chain(*PAYLOAD_DECODERS.values()):
        with contextlib.suppress(ProtocolError):
            decode(data)
