"""The sweep's figures: PNG plots of the results and a drawing of one run's synthesis graph.

``plot_results`` writes, next to ``results.json``:

- ``recall_vs_n.png``: evidence recall and the evidence-complete share of questions (and, when a
  model answered, EM, F1 and the lenient contains-the-answer rate) against N per strategy;
- ``messages_vs_n.png``: every request sent per question (counted at the socket) against N, both
  axes logarithmic;
- ``pairs_vs_n.png``: synthesis pairs (agent pairs joined by a synthesized packet an answer used) and
  provenance pairs (pairs where one agent's passage was in the other's context) against N, with
  N(N-1)/2 for scale; and synthesis pairs against N(N-1)/2, the quadratic claim measured.

``draw_synthesis_graph`` draws which agent used whose findings in one run (networkx).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display here, and none needed

import matplotlib.pyplot as plt
import networkx as nx  # type: ignore[import-untyped]

__all__ = ["ARROWS_UP_TO", "draw_synthesis_graph", "plot_results"]

_STYLE = {
    "isolated": ("tab:gray", "x"),
    "gossip": ("tab:orange", "v"),
    "hub": ("tab:purple", "s"),
    "broadcast": ("tab:red", "^"),
    "dht": ("tab:blue", "o"),
    "oracle": ("black", "*"),
}


def plot_results(results: dict[str, Any], out: Path) -> list[Path]:
    """Write the three plots of ``results`` (as ``results.json`` holds it) into ``out``."""
    rows = results["rows"]
    title = f"{results['dataset']}, {results['questions']} questions, seed {results['seed']}"
    answered = any(r["em"] is not None for r in rows)
    written = []

    panels = [("evidence_recall", "evidence recall"), ("complete_share", "evidence-complete share")]
    if answered:
        model = results["llm"]
        panels += [
            ("em", f"exact match ({model})"),
            ("f1", f"F1 ({model})"),
            ("contains", f"contains answer ({model})"),
        ]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        _lines(ax, rows, key, label)
    fig.suptitle(title)
    written.append(_save(fig, out / "recall_vs_n.png"))

    fig, ax = plt.subplots(figsize=(6, 4.2))
    _lines(
        ax,
        [r for r in rows if r["messages_per_question"] > 0],
        "messages_per_question",
        "messages / question",
    )
    ax.set_yscale("log")
    ax.set_title(f"{title}\n(isolated and oracle send none)", fontsize=9)
    written.append(_save(fig, out / "messages_vs_n.png"))

    fig, (by_n, by_pairs) = plt.subplots(1, 2, figsize=(11, 4.2))
    pairs = [r for r in rows if r.get("synthesis_pairs", 0) > 0]
    _lines(by_n, pairs, "synthesis_pairs", "agent pairs")
    for strategy, (color, _) in _STYLE.items():
        points = sorted(
            (r["n"], r["provenance_pairs"]) for r in rows
            if r["strategy"] == strategy and r.get("provenance_pairs", 0) > 0
        )  # fmt: skip
        if points:
            xs, ys = zip(*points, strict=True)
            by_n.plot(xs, ys, color=color, linestyle=":", label=f"{strategy} (provenance)")
    sizes = sorted({r["n"] for r in rows})
    by_n.plot(sizes, [n * (n - 1) // 2 for n in sizes], "k--", linewidth=1, label="N(N-1)/2")
    by_n.set_yscale("log")
    _legend(by_n)
    by_n.set_title("synthesis pairs (solid) and provenance pairs (dotted)", fontsize=9)
    for strategy, (color, marker) in _STYLE.items():
        points = sorted(
            (r["possible_pairs"], r["synthesis_pairs"]) for r in pairs if r["strategy"] == strategy
        )
        if points:
            xs, ys = zip(*points, strict=True)
            by_pairs.plot(xs, ys, color=color, marker=marker, label=strategy)
    most = max([r["possible_pairs"] for r in rows] + [1])
    by_pairs.plot([1, most], [1, most], "k--", linewidth=1, label="all pairs")
    by_pairs.set_xscale("log")
    by_pairs.set_yscale("log")
    by_pairs.set_xlabel("N(N-1)/2")
    by_pairs.set_ylabel("synthesis pairs")
    by_pairs.grid(True, alpha=0.3)
    _legend(by_pairs)
    fig.suptitle(title, fontsize=9)
    written.append(_save(fig, out / "pairs_vs_n.png"))
    return written


#: The most edges :func:`draw_synthesis_graph` draws as arrows.
ARROWS_UP_TO = 500


def draw_synthesis_graph(edges: Sequence[Sequence[int]], n: int, label: str, path: Path) -> Path:
    """Draw the directed graph of one run: an edge i -> j when agent j's context used a finding of
    agent i, its width the number of times. ``edges`` are ``[i, j, count]``."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    for i, j, count in edges:
        graph.add_edge(i, j, weight=count)
    fig, ax = plt.subplots(figsize=(7, 7))
    layout = (
        nx.circular_layout(graph) if n > 64 or graph.number_of_edges() == 0 else nx.kamada_kawai_layout(graph)
    )
    used = [v for v in graph.nodes if graph.degree(v) > 0]
    nx.draw_networkx_nodes(graph, layout, ax=ax, node_size=60, node_color="lightgray")
    nx.draw_networkx_nodes(graph, layout, nodelist=used, ax=ax, node_size=90, node_color="tab:blue")
    widths = [0.5 + min(4.0, graph.edges[e]["weight"] / 2) for e in graph.edges]
    # An arrow is a patch clipped to its nodes, about 10 ms each on this machine (2,000 took 22 s),
    # so the 20,778 edges of N = 4,096 took minutes; past ARROWS_UP_TO edges they are drawn as one
    # collection of plain lines (20,778 in 4 s).
    if graph.number_of_edges() <= ARROWS_UP_TO:
        nx.draw_networkx_edges(graph, layout, ax=ax, width=widths, alpha=0.5, arrowsize=8, arrows=True)
    else:
        nx.draw_networkx_edges(graph, layout, ax=ax, width=widths, alpha=0.5, arrows=False)
    pairs = {frozenset(e) for e in graph.edges}
    ax.set_title(f"synthesis graph: {label}\n{len(pairs)} of {n * (n - 1) // 2} agent pairs used each other")
    ax.axis("off")
    return _save(fig, path)


def _lines(ax: Any, rows: Sequence[dict[str, Any]], key: str, ylabel: str) -> None:
    for strategy, (color, marker) in _STYLE.items():
        points = sorted(
            (r["n"], r[key]) for r in rows if r["strategy"] == strategy and r.get(key) is not None
        )
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color=color, marker=marker, label=strategy)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("agents N")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    _legend(ax)


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:  # an empty legend is only a warning
        ax.legend(fontsize=8)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
