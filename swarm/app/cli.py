"""The ``synthswarm`` command line: the top-level group, its settings, and the commands of one verb
(``node``, ``demo``, ``chat``, ``serve``, ``mcp``), whose work lives in the ``*_cli`` module of each.
Each group of commands is a module of its own: ``bench_cli``, ``config_cli``, ``dht_cli``, ``eval_cli``,
``keys_cli``, ``models_cli``; so is the one command ``new`` (``new_cli``)."""

from __future__ import annotations

import contextlib
import logging
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

import click
from rich.logging import RichHandler

from synthswarm.swarm import tasks
from synthswarm.swarm.app._options import err, out
from synthswarm.swarm.app.bench_cli import bench
from synthswarm.swarm.app.config_cli import config as config_group
from synthswarm.swarm.app.dht_cli import dht
from synthswarm.swarm.app.eval_cli import eval_group
from synthswarm.swarm.app.keys_cli import keys
from synthswarm.swarm.app.models_cli import models
from synthswarm.swarm.app.new_cli import new
from synthswarm.swarm.config import Config, RouterName, load_config
from synthswarm.swarm.errors import SynthswarmError
from synthswarm.swarm.telemetry import configure_tracing

__all__ = ["cli", "main"]

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
        err.print("aborted")
        sys.exit(130)
    except SynthswarmError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config file.")
@click.option("--data-dir", type=str, help="Data directory (config key data_dir).")
@click.option("--log-level", type=str, help="DEBUG, INFO, WARNING or ERROR.")
@click.option(
    "--llm",
    "llm_backend",
    type=str,
    help="LLM backend: local, openai or replay (config key llm.backend; replay answers from llm.recording).",
)
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
        level=config.log_level, handlers=[RichHandler(console=err, show_path=False)], format="%(message)s"
    )
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG: a line per index built
    ctx.obj = config
    ctx.meta[_SOURCES] = (config_file, overrides)


for _group in (bench, config_group, dht, eval_group, keys, models, new):
    cli.add_command(_group)


def _with_agents_file(cfg: Config, agents_path: Path | None) -> Config:
    """The settings with an agents file's own tables (``[swarm]``, ``[llm]``...) over the config
    file's and under the environment and ``--set``: the order every other source keeps."""
    if agents_path is None:
        return cfg
    config_file, overrides = click.get_current_context().meta[_SOURCES]
    return load_config(file=config_file, overrides=overrides, more_files=(agents_path,))


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
        demo(cfg, out, router=router, questions=questions, corpus_path=corpus_path, data_dir=keep_dir,
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
        return out.input("[bold]you[/]: ") if sys.stdin.isatty() else _read_line()

    cfg = _with_agents_file(cfg, agents_path)
    tasks.run(chat(cfg, out, agents_path=agents_path, thread=thread, data_dir=cfg.data_dir, read=read))


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


@cli.command("serve")
@_agents_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="The address to bind (0.0.0.0: every interface)."
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="The port to listen on."
)
@click.option(
    "--token",
    envvar="SYNTHSWARM_API_TOKEN",
    default="",
    help="Bearer token clients must send (default: $SYNTHSWARM_API_TOKEN; empty: none).",
)
@click.option(
    "--max-request-bytes", default=1_000_000, show_default=True, type=click.IntRange(min=1024),
    help="Larger request bodies are refused with 413.",
)  # fmt: skip
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
            serve(cfg, out, agents_path=agents_path, host=host, port=port, token=token,
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
            serve_mcp(cfg, err, agents_path=agents_path, http_port=http_port, host=host, data_dir=keep_dir)
        )


def _key_value(item: str, flag: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=flag)
    return key, value
