"""``synthswarm models``: load the configured chat model and embedder, and check them."""

from __future__ import annotations

import click
from rich.table import Table

from synthswarm.swarm.app._options import err, out, status_updater
from synthswarm.swarm.config import Config

__all__ = ["models"]


@click.group()
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
    with err.status("starting") as status:
        result = check_models(chat, embedder, progress=status_updater(status))
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
    out.print(table)
