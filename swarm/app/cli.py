"""The ``synthswarm`` command line."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from synthswarm.swarm import tasks
from synthswarm.swarm.app.bench import FAULT_SECTIONS
from synthswarm.swarm.config import Config, RouterName, describe, load_config
from synthswarm.swarm.errors import SynthswarmError
from synthswarm.swarm.telemetry import configure_tracing

__all__ = ["cli", "main"]

_out = Console()
_err = Console(stderr=True, log_path=False)
_SOURCES = "synthswarm.config_sources"
"""Where the group keeps what built the config (file, flags), for commands that add an agents file."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI, turning the project's errors into one clear line and exit status 1."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="synthswarm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        _err.print("aborted")
        sys.exit(130)
    except SynthswarmError as exc:
        _err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config file.")
@click.option("--data-dir", type=str, help="Data directory (config key data_dir).")
@click.option("--log-level", type=str, help="DEBUG, INFO, WARNING or ERROR.")
@click.option("--llm", "llm_backend", type=str, help="LLM backend: local or openai (config key llm.backend).")
@click.option(
    "--trace",
    "trace_mode",
    type=str,
    help="OpenTelemetry spans: off, console (JSON lines on stderr) or otlp (OTEL_EXPORTER_OTLP_*).",
)
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key, e.g. llm.max_tokens=64."
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_file: Path | None,
    data_dir: str | None,
    log_level: str | None,
    llm_backend: str | None,
    trace_mode: str | None,
    settings: tuple[str, ...],
) -> None:
    """synthswarm: LLM agents that share findings through a ZeroMQ Kademlia DHT.

    Settings come from defaults, a TOML file, SYNTHSWARM_* environment variables and these flags;
    `synthswarm config show` lists them all.
    """
    overrides = dict(_key_value(item, "--set") for item in settings)
    for key, flag_value in (
        ("data_dir", data_dir), ("log_level", log_level), ("llm.backend", llm_backend), ("trace", trace_mode)
    ):  # fmt: skip
        if flag_value is not None:
            overrides[key] = flag_value
    config = load_config(file=config_file, overrides=overrides)
    provider = configure_tracing(
        config.trace, service_name=f"synthswarm {ctx.invoked_subcommand or ''}".strip()
    )
    if provider is not None:
        ctx.call_on_close(provider.shutdown)  # flush every span before the command returns
    logging.basicConfig(
        level=config.log_level, handlers=[RichHandler(console=_err, show_path=False)], format="%(message)s"
    )
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG: a line per index built
    ctx.obj = config
    ctx.meta[_SOURCES] = (config_file, overrides)


def _with_agents_file(cfg: Config, agents_path: Path | None) -> Config:
    """The settings with an agents file's own tables (``[swarm]``, ``[llm]``...) over the config
    file's and under the environment and ``--set``: the order every other source keeps."""
    if agents_path is None:
        return cfg
    config_file, overrides = click.get_current_context().meta[_SOURCES]
    return load_config(file=config_file, overrides=overrides, more_files=(agents_path,))


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_obj
def config_show(cfg: Config) -> None:
    """Every setting, its current value and what it does."""
    table = Table("key", "value", "meaning", title="synthswarm configuration")
    for key, value, doc in describe(cfg):
        table.add_row(key, value, doc)
    _out.print(table)


@cli.group()
def models() -> None:
    """The chat model and embedder."""


@models.command("check")
@click.pass_obj
def models_check(cfg: Config) -> None:
    """Load the configured LLM and embedder, generate, embed, and print what happened with timings."""
    from synthswarm.agents.embeddings import make_embedder
    from synthswarm.agents.llm import make_chat_model
    from synthswarm.swarm.app.diagnostics import check_models

    chat, embedder = make_chat_model(cfg.llm), make_embedder(cfg.embedder)
    with _err.status("starting") as status:
        result = check_models(chat, embedder, progress=_status_updater(status))
    table = Table("step", "result", title="synthswarm models check", show_lines=True)
    if result.llm_load_s is not None:
        table.add_row("LLM load", f"{result.llm_name} in {result.llm_load_s:.1f}s")
    usage = result.reply.usage
    table.add_row("prompt", result.prompt)
    table.add_row("generation", result.reply.text)
    table.add_row(
        "LLM timing",
        f"{usage.completion_tokens} tokens in {result.generate_s:.2f}s = {result.tokens_per_s:.1f} tokens/s "
        f"(prompt {usage.prompt_tokens} tokens, finish: {result.reply.finish_reason})",
    )
    table.add_row(
        "embedder",
        f"{result.embedder_name}, {result.embed_dims} dims, ready in {result.embedder_load_s:.1f}s",
    )
    table.add_row(
        "embedding",
        f"cosine similar pair {result.similar_cosine:.3f}, unrelated pair {result.unrelated_cosine:.3f}",
    )
    table.add_row("packet", f"signed outcome packet of {result.packet_bytes} bytes, decoded and verified")
    _out.print(table)


@cli.command("node")
@click.option("--listen", default="tcp://0.0.0.0:7400", show_default=True, help="ZeroMQ endpoint to bind.")
@click.option("--join", "join", multiple=True, metavar="ADDRESS", help="Bootstrap address (repeatable).")
@click.option("--advertise", help="Address peers should use (default: derived from --listen).")
@click.option("--state-dir", type=click.Path(path_type=Path), help="Keep identity, records, contacts here.")
@click.option("--put", "puts", multiple=True, metavar="KEY=VALUE", help="Store a record once joined.")
@click.option(
    "--secure",
    is_flag=True,
    help="CurveZMQ on every connection (implied when a --join address is secured).",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Node key made by `synthswarm keys create` (default: STATE_DIR/node.key, or a fresh one).",
)
@click.option(
    "--status-every",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between status lines.",
)
def node(
    listen: str, join: tuple[str, ...], advertise: str | None, state_dir: Path | None, puts: tuple[str, ...],
    secure: bool, key_path: Path | None, status_every: float,
) -> None:  # fmt: skip
    """Run a standalone DHT node that nodes on other hosts can join. Prints JSON lines; stops on Ctrl-C."""
    from synthswarm.swarm.app.node_cli import run_node
    from synthswarm.swarm.identity import Identity

    pairs = [_key_value(p, "--put") for p in puts]
    identity = Identity.load(key_path) if key_path else None
    tasks.run(
        run_node(
            listen=listen,
            join=join,
            advertise=advertise,
            state_dir=state_dir,
            puts=pairs,
            status_every_s=status_every,
            secure=secure,
            identity=identity,
        )
    )


@cli.group()
def keys() -> None:
    """Node keys: the Ed25519 identity a node signs with, and the Curve key derived from it."""


@keys.command("create")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing key file.")
def keys_create(path: Path, force: bool) -> None:
    """Create a node key at PATH, readable by its owner only (mode 0600)."""
    from synthswarm.swarm.identity import Identity

    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to replace it (the old identity is lost)")
    identity = Identity.generate()
    identity.save(path)
    _print_key(path, identity)


@keys.command("show")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def keys_show(path: Path) -> None:
    """Print the node id and public keys of the key at PATH (never the secret)."""
    from synthswarm.swarm.identity import Identity

    _print_key(path, Identity.load(path))


def _print_key(path: Path, identity: Any) -> None:
    from synthswarm.swarm.dht.curve import CurveKeys

    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        _err.print(f"[yellow]warning:[/] {path} is readable by others (mode {mode:o}); run chmod 600 {path}")
    fields = {
        "path": str(path),
        "mode": f"{mode:o}",
        "node_id": identity.id.hex(),
        "ed25519_public": identity.public_key.hex(),
        "curve_public": CurveKeys.of(identity).public.hex(),
    }
    _out.print_json(json.dumps(fields))


@cli.command("demo")
@click.option(
    "--router",
    type=click.Choice(typing.get_args(RouterName)),
    default="dht",
    show_default=True,
    help="How packets move; run with isolated to see what the swarm adds.",
)
@click.option("--questions", type=click.IntRange(min=1), help="Ask only the first N questions.")
@click.option(
    "--corpus", "corpus_path", type=click.Path(path_type=Path), help="A corpus JSON of the same shape."
)
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path), help="Keep the swarm's memory here.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the figures here as JSON.")
@click.pass_obj
def demo_command(
    cfg: Config,
    router: str,
    questions: int | None,
    corpus_path: Path | None,
    keep_dir: Path | None,
    json_path: Path | None,
) -> None:
    """Start 8 specialists on a shipped corpus and ask questions that need two of them.

    Shows packets being distilled, routed and synthesized, each answer with its provenance, and what
    the routing cost. Uses the configured models (the embedded ones by default).
    """
    from synthswarm.swarm.app.demo_cli import demo

    command = "synthswarm demo" + ("" if router == "dht" else f" --router {router}")
    tasks.run(
        demo(cfg, _out, router=router, questions=questions, corpus_path=corpus_path, data_dir=keep_dir,
             json_path=json_path, command=command)
    )  # fmt: skip


_agents_option = click.option(
    "--agents",
    "agents_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A TOML file with [[agents]] tables (default: the demo's eight specialists).",
)


@cli.command("chat")
@_agents_option
@click.option("--thread", default="default", show_default=True, help="The conversation to continue.")
@click.pass_obj
def chat_command(cfg: Config, agents_path: Path | None, thread: str) -> None:
    """Chat with the swarm's dispatcher in the terminal; history is kept per thread in the data dir.

    Commands: /agents, /packets, /trace, /reset, /quit, /help.
    """
    from synthswarm.swarm.app.chat_cli import chat

    def read() -> str:
        return _out.input("[bold]you[/]: ") if sys.stdin.isatty() else _read_line()

    cfg = _with_agents_file(cfg, agents_path)
    tasks.run(chat(cfg, _out, agents_path=agents_path, thread=thread, data_dir=cfg.data_dir, read=read))


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


@cli.command("serve")
@_agents_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="SYNTHSWARM_API_TOKEN",
    default="",
    help="Bearer token clients must send (default: $SYNTHSWARM_API_TOKEN; empty: none).",
)
@click.option("--max-request-bytes", default=1_000_000, show_default=True, type=click.IntRange(min=1024))
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path), help="Keep the swarm's memory here.")
@click.pass_obj
def serve_command(
    cfg: Config,
    agents_path: Path | None,
    host: str,
    port: int,
    token: str,
    max_request_bytes: int,
    keep_dir: Path | None,
) -> None:
    """Serve the swarm's dispatcher as an OpenAI-compatible API (/v1/chat/completions, /v1/models)
    and as an A2A agent (card at /.well-known/agent-card.json, JSON-RPC at /a2a), with a chat page
    and a live view of the swarm at /. Pending approvals: /v1/swarm/approvals/THREAD."""
    from synthswarm.swarm.app.serve_cli import serve

    cfg = _with_agents_file(cfg, agents_path)
    # On Ctrl-C uvicorn shuts down (stopping the swarm) and then re-raises the interrupt, which may or
    # may not surface here depending on timing. Ctrl-C is how a server is meant to stop: status 0.
    with contextlib.suppress(KeyboardInterrupt):
        tasks.run(
            serve(cfg, _out, agents_path=agents_path, host=host, port=port, token=token,
                  max_request_bytes=max_request_bytes, data_dir=keep_dir)
        )  # fmt: skip


@cli.command("mcp")
@_agents_option
@click.option(
    "--http", "http_port", type=click.IntRange(0, 65535),
    help="Serve streamable HTTP at http://HOST:PORT/mcp (0: a free port) instead of stdio.",
)  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="With --http: the address to bind.")
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path), help="Keep the swarm's memory here.")
@click.pass_obj
def mcp_command(
    cfg: Config, agents_path: Path | None, http_port: int | None, host: str, keep_dir: Path | None
) -> None:
    """Serve the swarm as an MCP server, over stdio (default) or streamable HTTP.

    Tools: ask_swarm(question, thread), list_agents(), get_packet(id). Progress goes to stderr.
    """
    from synthswarm.swarm.app.mcp_cli import serve_mcp

    cfg = _with_agents_file(cfg, agents_path)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server is meant to stop
        tasks.run(
            serve_mcp(cfg, _err, agents_path=agents_path, http_port=http_port, host=host, data_dir=keep_dir)
        )


@cli.group("eval")
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
    help="Use the first K questions (default: all with --llm none, 50 with a model).",
)
@click.option(
    "--complete",
    is_flag=True,
    help="Only questions whose every gold paragraph is in the corpus (97 of the HotpotQA sample's 300).",
)
@click.option("--seed", default=0, show_default=True)
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
    "instance), or a cluster's address; --jobs runs at once. Needs the [ray] extra.",
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
    "--synthesis",
    type=click.Choice(["on", "off"]),
    default="off",
    show_default=True,
    help="Settle after publishing: agents combine what they received with what they know.",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("eval-out"), show_default=True)
@click.pass_obj
def eval_scaling(
    cfg: Config,
    dataset: str,
    sizes: str,
    strategies: str,
    llm_mode: str,
    questions: int | None,
    complete: bool,
    seed: int,
    jobs: int,
    ray_address: str | None,
    kill: float,
    protocol: str,
    share: int,
    ablate: str,
    synthesis: str,
    out: Path,
) -> None:
    """Run every (size, strategy) of the scaling protocol; results, table and plots go to OUT.

    Runs are cached in OUT/runs, so an interrupted sweep resumes where it stopped.
    """
    from synthswarm.evals.cli import scaling

    if questions is None and llm_mode != "none":
        questions = 50
    command = (
        f"synthswarm eval scaling --dataset {dataset} --sizes {sizes} --strategies {strategies}"
        f" --llm {llm_mode}"
        + (f" --questions {questions}" if questions else "")
        + (" --complete" if complete else "")
        + (f" --protocol growing --share {share}" if protocol == "growing" else "")
        + (f" --kill {kill}" if kill else "")
        + (f" --ablate {ablate}" if ablate else "")
        + (" --synthesis on" if synthesis == "on" else "")
        + f" --seed {seed} --jobs {jobs}"
        + (f" --ray {ray_address}" if ray_address else "")
        + f" --out {out}"
    )
    tasks.run(
        scaling(cfg, _out, dataset=dataset, sizes=sizes, strategies=strategies, llm=llm_mode,
                questions=questions, complete=complete, seed=seed, jobs=jobs, ray=ray_address, kill=kill,
                ablate=ablate,
                protocol=protocol, share=share, synthesis=synthesis == "on",
                out=out, command=command)
    )  # fmt: skip


@cli.group()
def dht() -> None:
    """One-shot DHT clients: join, do one thing, leave."""


@dht.command("get")
@click.argument("key")
@click.option("--join", "join", multiple=True, required=True, metavar="ADDRESS", help="Bootstrap address.")
def dht_get_command(key: str, join: tuple[str, ...]) -> None:
    """Print the values stored under KEY (exit status 1 when there are none)."""
    from synthswarm.swarm.app.node_cli import dht_get

    sys.exit(tasks.run(dht_get(key, join)))


@dht.command("put")
@click.argument("key")
@click.argument("value")
@click.option("--join", "join", multiple=True, required=True, metavar="ADDRESS", help="Bootstrap address.")
@click.option("--ttl", default=3600, show_default=True, help="Seconds the record lives.")
def dht_put_command(key: str, value: str, join: tuple[str, ...], ttl: int) -> None:
    """Store VALUE under KEY on the nodes closest to it."""
    from synthswarm.swarm.app.node_cli import dht_put

    sys.exit(tasks.run(dht_put(key, value, join, ttl)))


def _key_value(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=flag)
    return key, value


@cli.group()
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
    with _err.status("starting") as status:
        figures = run_models_bench(chat, embedder, settings, progress=_status_updater(status))
    _finish_bench("synthswarm bench models", figures, "synthswarm bench models", json_path)


@bench.command("dht")
@click.option("--nodes", default=256, show_default=True, help="Nodes in the swarm (one process).")
@click.option("--lookups", default=1000, show_default=True, help="Timed gets, before and after churn.")
@click.option("--churn", default=0.2, show_default=True, help="Fraction of nodes killed abruptly.")
@click.option("--records", default=0, help="Records stored first (default: one per node).")
@click.option("--transport", type=click.Choice(["inproc", "tcp"]), default="inproc", show_default=True)
@click.option(
    "--processes", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Shards of nodes in this many processes over TCP loopback.",
)  # fmt: skip
@click.option(
    "--ray", "ray_address", metavar="ADDRESS",
    help="Place the shards with Ray: auto (the cluster `ray start` runs here), local (a new "
    "instance), or a cluster's address. Needs --processes > 1 and the [ray] extra.",
)  # fmt: skip
@click.option("--seed", default=0, show_default=True)
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
    with _err.status("starting") as status:
        figures = run_dht_bench(settings, progress=_status_updater(status))
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
@click.option("--strategies", default="dht,gossip,broadcast,hub", show_default=True)
@click.option(
    "--processes", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Agents and their nodes in this many processes (dht only).",
)  # fmt: skip
@click.option(
    "--ray", "ray_address", metavar="ADDRESS",
    help="Place the shards with Ray: auto (the cluster `ray start` runs here), local (a new "
    "instance), or a cluster's address. Needs --processes > 1 and the [ray] extra.",
)  # fmt: skip
@click.option("--seed", default=0, show_default=True)
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
    with _err.status("starting") as status:
        figures = run_routing_bench(settings, progress=_status_updater(status))
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
@click.option("--fuzz-inputs", default=100_000, show_default=True, type=click.IntRange(min=100))
@click.option("--http-inputs", default=5_000, show_default=True, type=click.IntRange(min=10))
@click.option("--soak-packets", default=100_000, show_default=True, type=click.IntRange(min=100))
@click.option("--soak-nodes", default=64, show_default=True, type=click.IntRange(min=4))
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
@click.option("--seed", default=0, show_default=True)
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
    with _err.status("starting") as status:
        figures = run_faults_bench(settings, progress=_status_updater(status))
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
        _out.print(f"wrote {json_path}")
    _out.print(f"rerun with: {command}")


def _status_updater(status: Any) -> Callable[[str], None]:
    def update(message: str) -> None:
        status.update(message + " ...")
        _err.log(message)

    return update


def _print_figures(title: str, figures: dict[str, Any]) -> None:
    table = Table("figure", "value", "target", title=title)
    judged = figures.get("targets", {})
    for key, value in figures.items():
        if key in ("targets", "machine"):
            continue
        target = ""
        if key in judged:
            t = judged[key]
            target = f"{t['op']} {t['threshold']:g} " + ("[green]met[/]" if t["met"] else "[red]missed[/]")
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value), target)
    _out.print(table)
