"""``synthswarm bench``: run a benchmark, print its figures as a table, optionally write them as JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from synthswarm.swarm.app._options import err, out, status_updater
from synthswarm.swarm.app.bench import FAULT_SECTIONS
from synthswarm.swarm.config import Config

__all__ = ["bench"]


_seed_option = click.option(
    "--seed", default=0, show_default=True, help="Seed of the identities and the workload: a run repeats."
)


@click.group()
def bench() -> None:
    """Benchmarks: measure on this machine, print a table, optionally write JSON."""


@bench.command("models")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the figures here as JSON.")
@click.option("--max-tokens", default=64, show_default=True, help="Tokens per LLM request.")
@click.option("--embed-texts", default=512, show_default=True, help="Texts in the embedding measurement.")
@click.option("--packets", default=5000, show_default=True, help="Packets encoded and verified.")
@click.pass_obj
def bench_models(
    cfg: Config, json_path: Path | None, max_tokens: int, embed_texts: int, packets: int
) -> None:
    """LLM tokens/s at batch 1 and 8, embeddings/s, packet size, encode and verify rates."""
    from synthswarm.agents.embeddings import make_embedder
    from synthswarm.agents.llm import make_chat_model
    from synthswarm.swarm.app.bench.models import ModelBenchSettings, run_models_bench

    settings = ModelBenchSettings(max_tokens=max_tokens, embed_texts=embed_texts, packets=packets)
    chat, embedder = make_chat_model(cfg.llm), make_embedder(cfg.embedder)
    with err.status("starting") as status:
        figures = run_models_bench(chat, embedder, settings, progress=status_updater(status))
    _finish_bench("synthswarm bench models", figures, "synthswarm bench models", json_path)


@bench.command("dht")
@click.option("--nodes", default=256, show_default=True, help="Nodes in the swarm (one process).")
@click.option("--lookups", default=1000, show_default=True, help="Timed gets, before and after churn.")
@click.option("--churn", default=0.2, show_default=True, help="Fraction of nodes killed abruptly.")
@click.option("--records", default=0, help="Records stored first (default: one per node).")
@click.option(
    "--transport", type=click.Choice(["inproc", "tcp"]), default="inproc", show_default=True,
    help="inproc: nodes talk inside this process; tcp: over loopback ports, as separate hosts would.",
)  # fmt: skip
@click.option(
    "--processes", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Shards of nodes in this many processes over TCP loopback.",
)  # fmt: skip
@click.option(
    "--ray", "ray_address", metavar="ADDRESS",
    help="Place the shards with Ray: auto (the cluster `ray start` runs here), local (a new "
    "instance), or a cluster's address. Needs --processes > 1 and the [ray] extra.",
)  # fmt: skip
@_seed_option
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the figures here as JSON.")
def bench_dht(
    nodes: int,
    lookups: int,
    churn: float,
    records: int,
    transport: str,
    processes: int,
    ray_address: str | None,
    seed: int,
    json_path: Path | None,
) -> None:
    """Success, hops, k-closest overlap, latency, load skew, maintenance and churn of an n-node DHT."""
    from synthswarm.swarm.app.bench.dht import DHTBenchSettings, run_dht_bench

    if nodes < 2 or lookups < 1 or not 0 <= churn < 1:
        raise click.BadParameter("need --nodes >= 2, --lookups >= 1 and 0 <= --churn < 1")
    if processes > nodes:
        raise click.BadParameter("--processes must be at most --nodes")
    _check_ray(ray_address, processes)
    settings = DHTBenchSettings(
        nodes=nodes, lookups=lookups, churn=churn, records=records, transport=transport, seed=seed,
        processes=processes, ray=ray_address,
    )  # fmt: skip
    with err.status("starting") as status:
        figures = run_dht_bench(settings, progress=status_updater(status))
    command = f"synthswarm bench dht --nodes {nodes} --lookups {lookups} --churn {churn}"
    if records:
        command += f" --records {records}"
    if seed:
        command += f" --seed {seed}"
    if transport != "inproc":
        command += f" --transport {transport}"
    if processes > 1:
        command += f" --processes {processes}"
    if ray_address:
        command += f" --ray {ray_address}"
    _finish_bench("synthswarm bench dht", figures, command, json_path)


def _check_ray(ray_address: str | None, processes: int) -> None:
    if ray_address is not None and processes < 2:
        raise click.BadParameter("--ray places the shards of --processes: give --processes 2 or more")


@bench.command("routing")
@click.option("--agents", default=256, show_default=True, help="Agents, one per DHT node.")
@click.option("--packets", default=200, show_default=True, help="Packets published per strategy.")
@click.option("--m", "m", default=10, show_default=True, help="Deliveries per packet (recall is at m).")
@click.option("--tables", default=8, show_default=True, help="LSH tables.")
@click.option("--bits", default=4, show_default=True, help="LSH bits per table.")
@click.option("--probes", default=1, show_default=True, help="Multi-probe buckets per table.")
@click.option(
    "--strategies", default="dht,gossip,broadcast,hub", show_default=True,
    help="Routers to measure, comma-separated (gossip gets the message budget dht measured).",
)  # fmt: skip
@click.option(
    "--processes", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Agents and their nodes in this many processes (dht only).",
)  # fmt: skip
@click.option(
    "--ray", "ray_address", metavar="ADDRESS",
    help="Place the shards with Ray: auto (the cluster `ray start` runs here), local (a new "
    "instance), or a cluster's address. Needs --processes > 1 and the [ray] extra.",
)  # fmt: skip
@_seed_option
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the figures here as JSON.")
def bench_routing(
    agents: int, packets: int, m: int, tables: int, bits: int, probes: int, strategies: str,
    processes: int, ray_address: str | None, seed: int, json_path: Path | None,
) -> None:  # fmt: skip
    """Recall at m, messages, bytes and hops per packet for dht, gossip, broadcast and hub."""
    from synthswarm.swarm.app.bench.routing import RoutingBenchSettings, run_routing_bench
    from synthswarm.swarm.routers import STRATEGIES
    from synthswarm.swarm.semantic import LSHSettings

    chosen = tuple(x.strip() for x in strategies.split(",") if x.strip())
    unknown = [x for x in chosen if x not in STRATEGIES]
    if unknown or agents < m + 2 or packets < 1:
        raise click.BadParameter(
            f"strategies from {', '.join(STRATEGIES)}; --agents > --m + 1; --packets >= 1"
        )
    if processes > 1 and chosen != ("dht",):
        raise click.BadParameter(
            "--processes runs the dht strategy only (the baselines keep their subscribers in one "
            "process): add --strategies dht"
        )
    if processes > agents:
        raise click.BadParameter("--processes must be at most --agents")
    _check_ray(ray_address, processes)
    if "gossip" in chosen and "dht" in chosen:
        chosen = ("dht", *[x for x in chosen if x != "dht"])  # gossip's budget comes from dht's cost
    try:
        lsh = LSHSettings(tables=tables, bits=bits, probes=probes)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    settings = RoutingBenchSettings(
        agents=agents,
        packets=packets,
        m=m,
        lsh=lsh,
        seed=seed,
        strategies=chosen,
        processes=processes,
        ray=ray_address,
    )
    with err.status("starting") as status:
        figures = run_routing_bench(settings, progress=status_updater(status))
    command = (
        f"synthswarm bench routing --agents {agents} --packets {packets} --m {m} --tables {tables} "
        f"--bits {bits} --probes {probes}"
    )
    if chosen != ("dht", "gossip", "broadcast", "hub"):
        command += f" --strategies {','.join(chosen)}"
    if processes > 1:
        command += f" --processes {processes}"
    if ray_address:
        command += f" --ray {ray_address}"
    if seed:
        command += f" --seed {seed}"
    _finish_bench("synthswarm bench routing", figures, command, json_path)


@bench.command("simulate")
@click.option("--agents", default=1024, show_default=True, help="Agents, one per simulated node.")
@click.option("--packets", default=200, show_default=True, help="Packets published.")
@click.option("--m", "m", default=10, show_default=True, help="Deliveries per packet (recall is at m).")
@click.option(
    "--tables", "table_mode", type=click.Choice(["constructed", "joined"]), default="constructed",
    show_default=True, help="Routing tables built as Kademlia converges, or by real joins.",
)  # fmt: skip
@click.option("--latency-ms", default=20.0, show_default=True, help="Median one-way delay (lognormal).")
@click.option("--sigma", default=0.5, show_default=True, help="Sigma of the delay's logarithm.")
@click.option("--loss", default=0.01, show_default=True, help="Probability each message is lost.")
@click.option(
    "--baseline", default=1024, show_default=True, help="Also simulate this N in the same run (0: none)."
)
@click.option("--real", is_flag=True, help="Also run the baseline's workload on a real inproc swarm.")
@click.option(
    "--subscribe", "subscribe_mode", type=click.Choice(["real", "placed"]), default="real", show_default=True,
    help="Every agent subscribes over the network, or its row is placed where that would store it.",
)  # fmt: skip
@click.option(
    "--nodes", "node_mode", type=click.Choice(["eager", "lazy"]), default="eager", show_default=True,
    help="Every node exists from the start, or starts when first reached (needs --subscribe placed).",
)  # fmt: skip
@_seed_option
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the figures here as JSON.")
def bench_simulate(
    agents: int, packets: int, m: int, table_mode: str, latency_ms: float, sigma: float, loss: float,
    baseline: int, real: bool, subscribe_mode: str, node_mode: str, seed: int, json_path: Path | None,
) -> None:  # fmt: skip
    """Recall, messages, hops and load skew of the dht router over a simulated network of N agents."""
    from synthswarm.swarm.app.bench.simulate import SimulateBenchSettings, run_simulate_bench
    from synthswarm.swarm.errors import ConfigError
    from synthswarm.swarm.sim import NetworkModel

    try:
        network = NetworkModel(median_latency_s=latency_ms / 1000, latency_sigma=sigma, loss=loss, seed=seed)
        settings = SimulateBenchSettings(
            agents=agents, packets=packets, m=m, network=network, baseline=baseline, real=real, seed=seed,
            tables="joined" if table_mode == "joined" else "constructed",
            subscribe="placed" if subscribe_mode == "placed" else "real",
            nodes="lazy" if node_mode == "lazy" else "eager",
        )  # fmt: skip
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    with err.status("starting") as status:
        figures = run_simulate_bench(settings, progress=status_updater(status))
    command = (
        f"synthswarm bench simulate --agents {agents} --packets {packets} --m {m} --tables {table_mode} "
        f"--latency-ms {latency_ms:g} --sigma {sigma:g} --loss {loss:g} --baseline {baseline}"
    )
    if real:
        command += " --real"
    command += f" --subscribe {subscribe_mode} --nodes {node_mode}"
    if seed:
        command += f" --seed {seed}"
    _finish_bench("synthswarm bench simulate", figures, command, json_path)


@bench.command("faults")
@click.option(
    "--nodes", default=64, show_default=True, type=click.IntRange(min=8), help="Churn/partition swarm."
)
@click.option(
    "--packets", default=200, show_default=True, type=click.IntRange(min=8), help="Packets per phase."
)
@click.option(
    "--attacks", default=1000, show_default=True, type=click.IntRange(min=10), help="Forged, replayed."
)
@click.option(
    "--fuzz-inputs", default=100_000, show_default=True, type=click.IntRange(min=100),
    help="Mutated inputs to the byte decoders (a tenth as many again to a live node).",
)  # fmt: skip
@click.option(
    "--http-inputs", default=5_000, show_default=True, type=click.IntRange(min=10),
    help="Malformed requests to the HTTP API.",
)  # fmt: skip
@click.option(
    "--soak-packets", default=100_000, show_default=True, type=click.IntRange(min=100),
    help="Packets routed in the soak, which measures packets a second and memory over time.",
)  # fmt: skip
@click.option(
    "--soak-nodes", default=64, show_default=True, type=click.IntRange(min=4), help="Nodes in the soak swarm."
)
@click.option(
    "--soak-hosts", type=click.Choice(["separate", "shared"]), default="separate", show_default=True,
    help="Soak nodes with sockets of their own, or sharing one transport host.",
)  # fmt: skip
@click.option(
    "--only",
    default=",".join(FAULT_SECTIONS),
    show_default=True,
    help="Sections to run, comma-separated.",
)
@_seed_option
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the figures here as JSON.")
def bench_faults(
    nodes: int, packets: int, attacks: int, fuzz_inputs: int, http_inputs: int, soak_packets: int,
    soak_nodes: int, soak_hosts: str, only: str, seed: int, json_path: Path | None,
) -> None:  # fmt: skip
    """Forged and replayed packets, fuzzing, churn (20% and 50%), kill -9 and restart, partition, soak."""
    from synthswarm.swarm.app.bench.faults import FaultBenchSettings, run_faults_bench

    sections = tuple(x.strip() for x in only.split(",") if x.strip())
    unknown = [x for x in sections if x not in FAULT_SECTIONS]
    if unknown or not sections:
        raise click.BadParameter(f"sections from {', '.join(FAULT_SECTIONS)}", param_hint="--only")
    settings = FaultBenchSettings(
        nodes=nodes, packets=packets, attacks=attacks, fuzz_inputs=fuzz_inputs, http_inputs=http_inputs,
        soak_packets=soak_packets, soak_nodes=soak_nodes, soak_hosts=soak_hosts, seed=seed,
        sections=sections,
    )  # fmt: skip
    with err.status("starting") as status:
        figures = run_faults_bench(settings, progress=status_updater(status))
    defaults = FaultBenchSettings()
    command = "synthswarm bench faults"
    for name, value in dataclasses.asdict(settings).items():
        if value != getattr(defaults, name):
            flag = "--only" if name == "sections" else "--" + name.replace("_", "-")
            command += f" {flag} {','.join(value) if name == 'sections' else value}"
    _finish_bench("synthswarm bench faults", figures, command, json_path)


def _finish_bench(title: str, figures: dict[str, Any], command: str, json_path: Path | None) -> None:
    if json_path is not None:
        command += f" --json {json_path}"
    figures["command"] = command
    _print_figures(title, figures)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {json_path}")
    out.print(f"rerun with: {command}")


def _print_figures(title: str, figures: dict[str, Any]) -> None:
    table = Table("figure", "value", "target", title=title)
    judged = figures.get("targets", {})
    for key, value in figures.items():
        if key in ("targets", "machine", "runs"):  # runs: every run's figures, for the JSON
            continue
        target = ""
        if key in judged:
            t = judged[key]
            target = f"{t['op']} {t['threshold']:g} " + ("[green]met[/]" if t["met"] else "[red]missed[/]")
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value), target)
    out.print(table)
