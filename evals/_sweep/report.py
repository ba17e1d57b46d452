"""The sweep's results as markdown (``results.md``): one row per run, and the synthesis gain and
closure per size on each metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synthswarm.evals._harness.kinds import KINDS

__all__ = ["markdown"]


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown table, with synthesis gain and closure per size."""
    rows = results["rows"]
    lines = [
        f"# Scaling sweep: {results['dataset']} (seed {results['seed']}, llm {results['model']}"
        f"{_part(rows)})",
        "",
        f"{results['questions']} questions over {results['paragraphs']} paragraphs. Evidence recall is the",
        "share of the gold paragraphs whose whole text is in the answering agent's context; complete, the",
        "share of questions with every gold paragraph there (evidence-complete); ceiling, the",
        "share present in the corpus at all. Messages are every request the questions caused, counted",
        "at the socket: routing the queries, replies, text fetches, relays and subscriptions (the",
        "parts). Upkeep: the DHT's other requests meanwhile (refreshes, replication, pings), per",
        "question. Bytes: everything the nodes sent meanwhile. Publish messages route the corpus",
        "before. Synthesis: whether agents settled with synthesis before the questions; syntheses, the",
        "packets they made; synth msgs, the requests routing them (at the socket); used, the share of",
        "questions where another agent's synthesis brought a gold paragraph (or the chosen answer's",
        "passage) into the context, own the same for the answerer's own syntheses; useful, the gold",
        "pairs held by different agents that a synthesis has as its two direct parents, of how many the",
        "split holds. Synthesis pairs: agent pairs joined by the direct parents of a synthesis that",
        "brought a passage into a context; provenance pairs: pairs where one's passage was in the",
        "other's context; both of N(N-1)/2.",
        "",
        f"Asking: {_asking(results.get('asking', {}))}.{_spread(rows)}",
        "",
        "| N | strategy | evidence recall | complete | ceiling | EM | F1 | contains | messages/q | route "
        "| reply | fetch | relay | subscribe | upkeep | rounds | bytes/q | hops | publish msgs | synthesis "
        "| syntheses | synth msgs | used / own | useful | synthesis pairs | provenance pairs | killed "
        "| wall s |",
        "|" + " --- |" * 28,
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['strategy']} | {r['evidence_recall']:.3f} | {r.get('complete_share', 0.0):.3f} "
            f"| {r['ceiling']:.3f} "
            f"| {_opt(r['em'])} | {_opt(r['f1'])} | {_opt(r['contains'])} "
            f"| {r['messages_per_question']:.1f} | {r['route_messages_per_question']:.1f} "
            f"| {r['reply_messages_per_question']:.1f} | {r['fetch_messages_per_question']:.1f} "
            f"| {r['relay_messages_per_question']:.1f} | {r['subscribe_messages_per_question']:.1f} "
            f"| {r.get('upkeep_messages_per_question', 0.0):.1f} "
            f"| {r['rounds_mean']:.2f} | {r['bytes_per_question']:,.0f} | {r['hops_mean']:.2f} "
            f"| {r['publish_messages']:,} | {r.get('synthesis', 'off')} | {r.get('syntheses', 0):,} "
            f"| {r.get('synthesis_messages', 0):,} "
            f"| {r.get('synthesis_used', 0.0):.3f} / {r.get('synthesis_used_own', 0.0):.3f} "
            f"| {r.get('synthesis_useful', 0)}/{r.get('synthesis_ceiling', 0)} "
            f"| {r['synthesis_pairs']}/{r['possible_pairs']} "
            f"| {r.get('provenance_pairs', 0)}/{r['possible_pairs']} "
            f"| {r['killed_fraction']:.2f} | {r['wall_s']:.1f} |"
        )
    evicted = sum(r["inbox_evicted"] for r in rows)
    if evicted:
        lines += ["", f"Inboxes evicted {evicted:,} packets in all; recall may be lower for it."]
    lines += ["", _gain_table(rows, "evidence_recall")]
    if all("complete_share" in r for r in rows):
        lines += ["", _gain_table(rows, "complete_share")]
    if any(r["em"] is not None for r in rows):
        lines += ["", _gain_table(rows, "f1"), "", _gain_table(rows, "contains")]
    if any(r.get("em_by_kind") for r in rows):
        lines += ["", _kind_table(rows)]
    if any(r.get("upkeep_per_node_min") for r in rows):
        lines += ["", _upkeep_table(rows)]
    return "\n".join(lines) + "\n"


def _upkeep_table(rows: Sequence[dict[str, Any]]) -> str:
    """The DHT's upkeep by kind, per node per minute of wall time while the questions were asked."""
    kinds = ("refresh", "ping", "republish", "replicate", "welcome", "total")
    lines = [
        f"| {r['n']} | {r['strategy']} | " + " | ".join(f"{up.get(k, 0.0):.2f}" for k in kinds) + " |"
        for r in rows
        if (up := r.get("upkeep_per_node_min") or {})
    ]
    caption = (
        "Upkeep per node per minute, by kind, while the questions were asked (wall time: the DHT's "
        "timers run on the machine's clock, so this moves with its speed and the run's length; "
        "`synthswarm bench dht` sets the same rates against Kademlia's at the configured intervals)."
    )
    return _table(caption, ["N", "strategy", *kinds], lines)


def _table(caption: str, columns: Sequence[str], lines: Sequence[str]) -> str:
    """A caption, then a markdown table of ``columns`` whose rows are ``lines``."""
    head = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    return "\n".join([caption, "", *head, *lines])


def _kind_table(rows: Sequence[dict[str, Any]]) -> str:
    """EM by the kind of answer each question wants, beside its chance baseline (a uniform pick among
    the candidates the reading rules offered) and its count: what the model adds is EM minus chance."""
    kinds = [k for k in KINDS if any(k in (r.get("em_by_kind") or {}) for r in rows)]
    lines = []
    for r in rows:
        per = r.get("em_by_kind") or {}
        cells = [
            f"{per[k]['em']:.3f} / {per[k]['chance']:.3f} ({int(per[k]['n'])})" if k in per else "-"
            for k in kinds
        ]
        lines.append(f"| {r['n']} | {r['strategy']} | {r.get('part', 'all')} | " + " | ".join(cells) + " |")
    caption = (
        "EM by answer kind: EM / chance (questions). Chance is the expected EM of a uniform pick among "
        "the candidates the reading rules offered for each question (yes/no 0.5, a two-way choice 0.5)."
    )
    return _table(caption, ["N", "strategy", "part", *kinds], lines)


def _gain_table(rows: Sequence[dict[str, Any]], metric: str) -> str:
    """G(N) = dht - isolated and closure = G / (oracle - isolated), on ``metric``."""
    by = {(r["n"], r["strategy"]): r[metric] for r in rows}
    sizes = sorted({r["n"] for r in rows})
    out = [
        f"Synthesis gain and closure on {metric.replace('_', ' ')}:",
        "",
        "| N | dht | isolated | oracle | gain G(N) | closure |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n in sizes:
        dht, iso, ora = by.get((n, "dht")), by.get((n, "isolated")), by.get((n, "oracle"))
        if dht is None or iso is None:
            continue
        gain = dht - iso
        # Closure is a share of the oracle's lead; where the oracle does not lead, there is none.
        closure = f"{gain / (ora - iso):.2f}" if ora is not None and ora > iso else "n/a"
        out.append(f"| {n} | {dht:.3f} | {iso:.3f} | {_opt(ora)} | {gain:+.3f} | {closure} |")
    return "\n".join(out)


def _asking(asking: dict[str, Any]) -> str:
    """The asking settings of a sweep, as one line of the report."""
    if not asking:
        return "not recorded"
    return (
        f"{asking['rounds']} rounds, a budget of {asking['budget']} passages, "
        f"{asking['bridges']} bridge(s), {asking.get('relays', 0)} relay(s), "
        f"lexical weight {asking['lexical_weight']}, titles {'on' if asking['titles'] else 'off'}, "
        f"answerer by {asking['answerer']}, {asking['kill']:.0%} of nodes killed"
    )


def _spread(rows: Sequence[dict[str, Any]]) -> str:
    """Which runs had their agents spread over processes (their requests summed over every process's
    sockets); nothing when none was."""
    spread = sorted({(r["strategy"], r.get("processes", 1)) for r in rows if r.get("processes", 1) > 1})
    if not spread:
        return ""
    runs = ", ".join(f"{strategy} over {p} processes" for strategy, p in spread)
    return f" Agents spread over processes (one DHT over TCP loopback, requests summed): {runs}."


def _part(rows: Sequence[dict[str, Any]]) -> str:
    """The part of the questions the rows asked, for the title; nothing for all of them."""
    parts = sorted({r.get("part", "all") for r in rows} - {"all"})
    return f", part {'+'.join(parts)}" if parts else ""


def _opt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
