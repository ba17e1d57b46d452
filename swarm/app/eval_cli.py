"""``synthswarm eval``: the scaling protocol, from the command line."""

from __future__ import annotations

import os
from pathlib import Path

import click

from synthswarm.swarm import tasks
from synthswarm.swarm.app._options import out as console
from synthswarm.swarm.config import Config

__all__ = ["eval_group"]


@click.group("eval")
def eval_group() -> None:
    """Measure collective intelligence against swarm size."""


@eval_group.command("scaling")
@click.option(
    "--dataset", default="synthetic", show_default=True, help="synthetic, hotpotqa, or a HotpotQA file."
)
@click.option(
    "--sizes", default="2,4,8,16,32,64,128", show_default=True, help="Swarm sizes, comma-separated."
)
@click.option(
    "--strategies",
    default="isolated,gossip,hub,broadcast,dht,oracle",
    show_default=True,
    help="Comma-separated.",
)
@click.option(
    "--llm",
    "llm_mode",
    default="none",
    show_default=True,
    help="none: evidence metrics only; local: the embedded model answers; openai: the [llm] server answers.",
)
@click.option(
    "--questions",
    type=click.IntRange(min=1),
    help="Use the first K questions (default: all with --llm none or a --part, 50 with a model).",
)
@click.option(
    "--part",
    type=click.Choice(["tune", "report", "all"]),
    default="all",
    show_default=True,
    help="tune: the questions settings were chosen on; report: the others, held out (evals/README.md).",
)
@click.option(
    "--complete",
    is_flag=True,
    help="Only questions whose every gold paragraph is in the corpus (97 of the HotpotQA sample's 300).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    help="Seed of the run: the partition among agents, the identities, the entry agents.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=min(2, os.cpu_count() or 1),
    show_default=True,
    help="Runs at once, one process each.",
)
@click.option(
    "--ray", "ray_address", metavar="ADDRESS",
    help="Run each run as a Ray task: auto (the cluster `ray start` runs here), local (a new "
    "instance), or a cluster's address; --jobs runs at once. With --processes, Ray places each run's "
    "other processes as actors instead. Needs the [ray] extra.",
)  # fmt: skip
@click.option(
    "--kill",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Fraction of the nodes killed after publishing, before asking (hub's node among them).",
)
@click.option(
    "--protocol",
    type=click.Choice(["split", "growing"]),
    default="split",
    show_default=True,
    help="split: the corpus split among N agents; growing: N agents of --share paragraphs each, the "
    "corpus and its questions growing with N.",
)
@click.option(
    "--share",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Paragraphs per agent (growing).",
)
@click.option(
    "--ablate",
    default="",
    metavar="NAMES",
    help="Turn mechanisms off, comma-separated: rounds, hybrid, titles, answerer, relays.",
)
@click.option(
    "--answerer",
    type=click.Choice(["entry", "routed", "scan", "profile"]),
    default=None,
    help="Who answers a question: entry (the seeded entry agent itself; the default), routed (the "
    "best bidder to the entry's query, handed the question), or the oracle ablations scan (every "
    "agent read, counted as look-ups) and profile.",
)
@click.option(
    "--synthesis",
    type=click.Choice(["on", "off"]),
    default="off",
    show_default=True,
    help="Settle after publishing: agents combine what they received with what they know.",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Spread each run's agents over this many processes sharing one DHT over TCP loopback, or "
    "over Ray actors with --ray (dht; the oracle runs in one). 1: every node in one process.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("eval-out"), show_default=True,
    help="Folder for results.json, the tables, the plots and the run cache (an interrupted sweep resumes).",
)  # fmt: skip
@click.pass_obj
def eval_scaling(
    cfg: Config,
    dataset: str,
    sizes: str,
    strategies: str,
    llm_mode: str,
    questions: int | None,
    part: str,
    complete: bool,
    seed: int,
    jobs: int,
    ray_address: str | None,
    kill: float,
    protocol: str,
    share: int,
    ablate: str,
    synthesis: str,
    answerer: str | None,
    processes: int,
    out: Path,
) -> None:
    """Run every (size, strategy) of the scaling protocol; results, table and plots go to OUT.

    Runs are cached in OUT/runs, so an interrupted sweep resumes where it stopped.
    """
    from synthswarm.evals.cli import scaling

    if questions is None and llm_mode != "none" and part == "all":
        questions = 50
    command = (
        f"synthswarm eval scaling --dataset {dataset} --sizes {sizes} --strategies {strategies}"
        f" --llm {llm_mode}"
        + (f" --questions {questions}" if questions else "")
        + (" --complete" if complete else "")
        + (f" --part {part}" if part != "all" else "")
        + (f" --protocol growing --share {share}" if protocol == "growing" else "")
        + (f" --kill {kill}" if kill else "")
        + (f" --ablate {ablate}" if ablate else "")
        + (" --synthesis on" if synthesis == "on" else "")
        + (f" --answerer {answerer}" if answerer else "")
        + f" --seed {seed} --jobs {jobs}"
        + (f" --processes {processes}" if processes > 1 else "")
        + (f" --ray {ray_address}" if ray_address else "")
        + f" --out {out}"
    )
    tasks.run(
        scaling(cfg, console, dataset=dataset, sizes=sizes, strategies=strategies, llm=llm_mode,
                questions=questions, complete=complete, seed=seed, jobs=jobs, ray=ray_address, kill=kill,
                ablate=ablate, part=part, answerer=answerer or "",
                protocol=protocol, share=share, synthesis=synthesis == "on", processes=processes,
                out=out, command=command)
    )  # fmt: skip
