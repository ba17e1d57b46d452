"""Do the eval's figures depend on the machine's speed? One seed, run twice: once as the machine is, once
with processes spinning on every core beside it (GUIDE section 5: waits end on events, budgets count
events). Every field of the rows must be the same but those that measure time or the DHT's own upkeep.

    python -m synthswarm.evals.load_check --sizes 16,64 --strategies dht --synthesis off --out build/load

It writes ``OUT/quiet`` and ``OUT/hog`` (two ordinary sweeps, so each has its results.json) and
``OUT/compare.md`` (the rows side by side), and exits 1 when a compared field differs. Not a test:
it takes minutes, and a test must not depend on timing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["VOLATILE", "compare", "main"]

VOLATILE = frozenset({"wall_s", "upkeep_messages_per_question", "upkeep_per_node_min", "bytes_per_question"})
"""Fields that may differ under load: the wall time, and the DHT's upkeep (bucket refreshes, pings and
replication run on a clock, so how many fall while the questions are asked depends on how long they
take; ``bytes_per_question`` counts the upkeep's bytes too)."""


def _spin() -> None:
    while True:
        pass


@contextmanager
def cpu_hog(processes: int) -> Iterator[None]:
    """``processes`` processes spinning on the CPU for as long as the block runs."""
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.terminate()
            hog.join()


def _sweep(out: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    command = [
        sys.executable, "-m", "synthswarm", "eval", "scaling", "--dataset", args.dataset, "--complete",
        "--sizes", args.sizes, "--strategies", args.strategies, "--synthesis", args.synthesis,
        "--seed", str(args.seed), "--jobs", "1", "--out", str(out),
    ]  # fmt: skip
    if args.questions:
        command += ["--questions", str(args.questions)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    rows: list[dict[str, Any]] = json.loads((out / "results.json").read_text())["rows"]
    return rows


def compare(quiet: Sequence[dict[str, Any]], hog: Sequence[dict[str, Any]]) -> tuple[str, int]:
    """The rows side by side as markdown, and how many compared fields differ."""
    lines, differ = [], 0
    for a, b in zip(quiet, hog, strict=True):
        lines += [f"### n={a['n']} {a['strategy']} synthesis={a.get('synthesis', 'off')}", ""]
        lines += ["| field | quiet | hog | |", "| --- | --- | --- | --- |"]
        for field in a:
            same = a[field] == b.get(field)
            mark = "(time)" if field in VOLATILE else "" if same else "**differs**"
            differ += not same and field not in VOLATILE
            lines.append(f"| {field} | {a[field]} | {b.get(field)} | {mark} |")
        lines.append("")
    return "\n".join(lines), differ


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="hotpotqa")
    parser.add_argument("--sizes", default="16")
    parser.add_argument("--strategies", default="dht")
    parser.add_argument("--synthesis", default="off", choices=("on", "off"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--questions", type=int, default=0, help="the first K questions (0: all)")
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2, help="spinning processes")
    parser.add_argument("--out", type=Path, default=Path("build/load-check"))
    args = parser.parse_args(argv)
    quiet = _sweep(args.out / "quiet", args)
    with cpu_hog(args.hogs):
        hog = _sweep(args.out / "hog", args)
    table, differ = compare(quiet, hog)
    (args.out / "compare.md").write_text(table)
    print(table)
    print(f"{differ} compared field(s) differ (ignored: {', '.join(sorted(VOLATILE))})")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
