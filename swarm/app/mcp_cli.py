"""``synthswarm mcp``: serve the swarm as an MCP server, over stdio or streamable HTTP.

Over stdio, stdout is the protocol channel: everything else this command says (progress, the
address, logs) goes to stderr, and prints by libraries while the swarm starts are sent there too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path

import uvicorn
from rich.console import Console

from synthswarm.agents.embeddings import make_embedder
from synthswarm.agents.llm import make_chat_model
from synthswarm.swarm.app.demo import swarm_of
from synthswarm.swarm.app.mcp_server import build_mcp_server
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.config import Config

__all__ = ["MCP_PATH", "serve_mcp"]

#: Where the streamable HTTP endpoint is served.
MCP_PATH = "/mcp"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def serve_mcp(
    config: Config,
    console: Console,
    *,
    agents_path: Path | None,
    http_port: int | None,
    host: str,
    data_dir: Path | None,
) -> None:
    """Serve the swarm of ``agents_path`` (default: the demo's specialists) as an MCP server: over
    stdio until the client closes it, or with ``http_port`` over streamable HTTP until interrupted.
    ``console`` must write to stderr (in stdio mode stdout carries the protocol)."""
    chat, embedder = make_chat_model(config.llm), make_embedder(config.embedder)
    with tempfile.TemporaryDirectory(prefix="synthswarm-mcp-") as scratch:
        swarm = swarm_of(
            agents_path, chat=chat, embedder=embedder, config=config.swarm, data_dir=data_dir or Path(scratch)
        )
        what = str(agents_path) if agents_path is not None else "the demo's specialists"
        try:
            with console.status("starting the swarm"), contextlib.redirect_stdout(sys.stderr):
                await swarm.start()
            console.print(
                f"[bold]synthswarm mcp[/]: {len(swarm.specialists)} specialists ({what}), "
                f"models {chat.name} + {embedder.name}"
            )
            if http_port is None:
                console.print("MCP over stdio (tools ask_swarm, list_agents, get_packet)")
                await build_mcp_server(swarm).run_stdio_async()
            else:
                await _serve_http(swarm, console, host, http_port)
        finally:
            await swarm.stop()
            await chat.aclose()


async def _serve_http(swarm: Swarm, console: Console, host: str, port: int) -> None:
    app = build_mcp_server(swarm).streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    )
    serving = asyncio.create_task(server.serve(), name="mcp-http")
    try:
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no startup event
            await asyncio.sleep(0.05)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1]  # the real port when 0 was asked
            console.print(f"MCP over streamable HTTP at http://{host}:{bound}{MCP_PATH}")
            if host not in _LOOPBACK:
                console.print(
                    f"[yellow]warning[/]: listening on {host} with no token: anyone who can reach it can ask"
                )
        await serving
    finally:
        if not serving.done():
            server.should_exit = True
            await serving
