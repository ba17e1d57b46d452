"""``synthswarm serve``: the OpenAI-compatible API and the A2A agent over a swarm, with uvicorn."""

from __future__ import annotations

import tempfile
from pathlib import Path

import uvicorn
from rich.console import Console

from synthswarm.agents.embeddings import make_embedder
from synthswarm.agents.llm import make_chat_model
from synthswarm.swarm.app.a2a_server import A2A_PATH, CARD_PATH
from synthswarm.swarm.app.demo import swarm_of
from synthswarm.swarm.app.server import MODEL_ID, ServerSettings, create_app
from synthswarm.swarm.config import Config

__all__ = ["serve"]


async def serve(
    config: Config,
    console: Console,
    *,
    agents_path: Path | None,
    host: str,
    port: int,
    token: str,
    max_request_bytes: int,
    data_dir: Path | None,
) -> None:
    """Serve the swarm of ``agents_path`` (a TOML file with ``[[agents]]``; default: the demo's eight
    specialists) until interrupted."""
    chat, embedder = make_chat_model(config.llm), make_embedder(config.embedder)
    with tempfile.TemporaryDirectory(prefix="synthswarm-serve-") as scratch:
        where = data_dir or Path(scratch)
        swarm = swarm_of(agents_path, chat=chat, embedder=embedder, config=config.swarm, data_dir=where)
        what = str(agents_path) if agents_path is not None else "the demo's specialists"
        settings = ServerSettings(token=token, max_request_bytes=max_request_bytes)
        app = create_app(swarm, settings, run_swarm=True)
        console.print(
            f"[bold]synthswarm serve[/]: {len(swarm.specialists)} specialists ({what}), "
            f"models {chat.name} + {embedder.name}"
        )
        console.print(
            f"OpenAI-compatible API at http://{host}:{port}/v1 (model {MODEL_ID!r})"
            + ("; bearer token required" if token else "; no token required")
        )
        console.print(f"A2A agent card at http://{host}:{port}{CARD_PATH} (JSON-RPC at {A2A_PATH})")
        console.print(f"the web page: http://{host}:{port}/")
        if not token and host not in ("127.0.0.1", "localhost", "::1"):
            console.print(
                f"[yellow]warning[/]: listening on {host} with no token: anyone who can reach it can ask"
            )
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
        )
        try:
            await server.serve()
        finally:
            await chat.aclose()
