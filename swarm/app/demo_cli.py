"""``synthswarm demo``: the swarm demo in a terminal, with live progress and a summary."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from synthswarm.agents.embeddings import make_embedder
from synthswarm.agents.llm import make_chat_model
from synthswarm.swarm.app.demo import DemoResult, DemoSummary, load_demo_corpus, run_demo
from synthswarm.swarm.app.runtime import Swarm
from synthswarm.swarm.config import Config, RouterName

__all__ = ["demo"]

_STAGES = {
    "nodes": "starting DHT nodes",
    "join": "agents learning + subscribing",
    "share": "distilling + routing",
}


async def demo(
    config: Config,
    console: Console,
    *,
    router: str,
    questions: int | None,
    corpus_path: Path | None,
    data_dir: Path | None,
    json_path: Path | None,
    command: str,
) -> DemoSummary:
    """Run the demo with the configured models; the swarm's memory lives in ``data_dir`` (a fresh
    temporary folder unless given)."""
    began = time.perf_counter()
    corpus = load_demo_corpus(corpus_path)
    with console.status("loading the models (the first run converts the GGUF, about 20 s)"):
        chat, embedder = make_chat_model(config.llm), make_embedder(config.embedder)
        await embedder.embed(["warm up"])
    load_s = time.perf_counter() - began
    console.print(
        f"[bold]synthswarm demo[/]: {len(corpus.agents)} specialists, router [cyan]{router}[/], "
        f"models {chat.name} + {embedder.name} (loaded in {load_s:.1f} s)"
    )
    with tempfile.TemporaryDirectory(prefix="synthswarm-demo-") as scratch:
        swarm = Swarm(
            chat=chat,
            embedder=embedder,
            config=replace(config.swarm, router=cast(RouterName, router)),
            data_dir=data_dir or Path(scratch),
        )
        view = _View(console)
        try:
            summary = await run_demo(swarm, corpus, questions=questions, on_event=view.on_event)
        finally:
            view.close()
            await chat.aclose()
    total_s = time.perf_counter() - began
    _print_summary(console, summary, router, total_s, command)
    if json_path is not None:
        figures = _figures(summary, router, total_s, load_s)
        await asyncio.to_thread(json_path.write_text, json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        console.print(f"figures written to {json_path}")
    return summary


class _View:
    """Turns demo events into progress bars and per-question lines."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.index = 0
        self.progress.start()

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "stage":
            self._stage(event)
        elif kind == "route":
            self._stop_progress()
            self.index += 1
            chosen = ", ".join(f"{c['name']} ({c['score']:.2f})" for c in event["specialists"])
            self.console.print(f"\n[bold]Q{self.index}[/] {event['question']}")
            self.console.print(f"  dispatcher → [cyan]{chosen}[/]")
        elif kind == "answer":
            senders = sorted({p["from"] for p in event["packets"]})
            got = (
                f"packets from [magenta]{', '.join(senders)}[/]"
                if senders
                else "no packets from other agents"
            )
            self.console.print(f"  {event['agent']} used {len(event['sources'])} own passage(s) and {got}")
            for p in event["packets"][:3]:
                self.console.print(f"    [dim]{p['from']}: {p['finding'][:100]}[/]", highlight=False)
        elif kind == "result":
            self._result(event["result"])

    def _stage(self, event: dict[str, Any]) -> None:
        stage = event["stage"]
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(
                _STAGES.get(stage, stage), total=event["total"], note=""
            )
        note = f"{event['packets']} packets" if "packets" in event else ""
        self.progress.update(self.tasks[stage], completed=event["done"], note=note)

    def _result(self, r: DemoResult) -> None:
        mark = "[green]✓[/]" if r.correct else "[red]✗[/]"
        facts = "both facts reached it" if r.facts_reached else "[yellow]a needed fact did not reach it[/]"
        self.console.print(
            f"  answer: [bold]{r.answer}[/] {mark} (expected {r.expected}); {facts}", highlight=False
        )
        self.console.print(
            f"  cost: {r.messages} routing requests, {r.llm_calls} LLM call(s), {r.wall_s:.1f} s",
            highlight=False,
        )

    def _stop_progress(self) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def close(self) -> None:
        self._stop_progress()


def _print_summary(console: Console, s: DemoSummary, router: str, total_s: float, command: str) -> None:
    n = len(s.results)
    table = Table(title=f"demo summary (router {router})", show_header=False)
    table.add_row("answered correctly", f"{sum(r.correct for r in s.results)} / {n} ({s.answer_rate:.0%})")
    table.add_row(
        "both needed facts reached the answerer", f"{sum(r.facts_reached for r in s.results)} / {n}"
    )
    table.add_row("packets distilled and published at start", str(s.packets_shared))
    packets = s.packets_shared + s.syntheses_at_start
    per_packet = s.share_messages / packets if packets else 0.0
    table.add_row("syntheses they prompted (linked findings)", str(s.syntheses_at_start))
    table.add_row(
        "requests for both (at the socket)",
        f"{s.share_messages} ({per_packet:.1f} per packet; broadcast would send {s.agents - 1} per packet)",
    )
    asker = sum(r.messages for r in s.results) / max(1, n)
    table.add_row(
        "requests per question (at the socket)",
        f"{asker:.1f} by the asker, {s.ask_messages / max(1, n):.1f} by all agents",
    )
    table.add_row(
        "subscription requests: at start / for open tasks",
        f"{s.subscribe_messages} / {s.task_subscribe_messages}",
    )
    table.add_row("query replies sent / syntheses made", f"{s.replies} / {s.syntheses}")
    table.add_row("deliveries (all packets)", str(s.deliveries))
    table.add_row(
        "time: start / share / questions / total",
        f"{s.start_s:.1f} / {s.share_s:.1f} / {s.ask_s:.1f} / {total_s:.1f} s",
    )
    console.print()
    console.print(table)
    console.print(f"rerun: {command}")


def _figures(s: DemoSummary, router: str, total_s: float, load_s: float) -> dict[str, Any]:
    return {
        "router": router,
        "agents": s.agents,
        "answer_rate": s.answer_rate,
        "facts_rate": s.facts_rate,
        "packets_shared": s.packets_shared,
        "share_messages": s.share_messages,
        "syntheses_at_start": s.syntheses_at_start,
        "subscribe_messages": s.subscribe_messages,
        "task_subscribe_messages": s.task_subscribe_messages,
        "messages_per_question": sum(r.messages for r in s.results) / max(1, len(s.results)),
        "all_messages_per_question": s.ask_messages / max(1, len(s.results)),
        "syntheses": s.syntheses,
        "replies": s.replies,
        "deliveries": s.deliveries,
        "load_s": load_s,
        "start_s": s.start_s,
        "share_s": s.share_s,
        "ask_s": s.ask_s,
        "total_s": total_s,
        "results": [asdict(r) for r in s.results],
    }
