"""Eval rows → figures with bootstrap 95% intervals → report.json, report.md and a chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from askai.eval.metrics import hit_at, percentile, rate_with_ci, reciprocal_rank
from askai.grounding import CONTRADICTED, SUPPORTED

HEADLINE = [
    ("correct", "Correct (required facts), answerable"),
    ("correct_grounded", "Correct and every claim supported by its citation, answerable"),
    ("hit@5", "Retrieval hit@5"),
    ("claims_supported", "Claims supported by their citations"),
    ("citation_precision", "Citation precision"),
    ("citation_recall", "Citation recall"),
    ("citation_validity", "Quotes valid (exact text at offsets)"),
    ("answers_fully_grounded", "Answers fully grounded"),
    ("hallucination_rate", "Answered an unanswerable item (lower is better)"),
    ("false_refusal_rate", "Refused an answerable item (lower is better)"),
]
LOWER_IS_BETTER = {"hallucination_rate", "false_refusal_rate", "claims_contradicted"}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["kind"] == "answerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    answered = [r for r in rows if not r["refused"]]
    claims = [c for r in answered for c in r["claims"]]
    precision = [p for r in answered for p in r["precision"]]
    citations = [c for r in rows for c in r["citations"]]
    ranks = [r["rank"] for r in answerable]
    judged = [c for c in claims if c["tier"] == 2]
    s: dict[str, Any] = {
        "items": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "correct": rate_with_ci([r["facts_ok"] for r in answerable]),
        # the product's definition of a good answer: the facts, each claim backed by the passage
        # it cites (a model can state a fact it knows without the documents saying it)
        "correct_grounded": rate_with_ci(
            [r["facts_ok"] and not r["refused"] and _fully_grounded(r) for r in answerable]
        ),
        "correct_two_turn": rate_with_ci(
            [r["facts_ok"] for r in answerable if r["category"] == "two_turn"]
        ),
        "hit@1": rate_with_ci([hit_at(k, 1) for k in ranks]),
        "hit@3": rate_with_ci([hit_at(k, 3) for k in ranks]),
        "hit@5": rate_with_ci([hit_at(k, 5) for k in ranks]),
        "mrr": {"value": sum(reciprocal_rank(k) for k in ranks) / max(1, len(ranks))},
        "citation_validity": rate_with_ci([c["valid"] for c in citations]),
        "citation_precision": rate_with_ci([p["supported"] for p in precision]),
        "citation_recall": rate_with_ci([c["label"] == SUPPORTED for c in claims]),
        "claims_supported": rate_with_ci([c["label"] == SUPPORTED for c in claims]),
        "claims_contradicted": rate_with_ci([c["label"] == CONTRADICTED for c in claims]),
        "answers_fully_grounded": rate_with_ci([_fully_grounded(r) for r in answered]),
        "answers_with_citations": rate_with_ci([bool(r["citations"]) for r in answered]),
        "gold_doc_cited": rate_with_ci(
            [r["gold_cited"] for r in answerable if r["facts_ok"] and "gold_cited" in r]
        ),
        "hallucination_rate": rate_with_ci([not r["refused"] for r in unanswerable]),
        "false_refusal_rate": rate_with_ci([r["refused"] for r in answerable]),
        "confusion": {
            "answerable_answered": sum(not r["refused"] for r in answerable),
            "answerable_refused": sum(r["refused"] for r in answerable),
            "unanswerable_answered": sum(not r["refused"] for r in unanswerable),
            "unanswerable_refused": sum(r["refused"] for r in unanswerable),
        },
        "checker": {
            "claims": len(claims), "tier1": len(claims) - len(judged), "tier2": len(judged),
            "judge_parse_errors": sum(c["error"] for c in claims),
        },
        "latency": {},
    }
    for key in ("retrieve_s", "first_token_s", "total_s"):
        values = [r["timings"][key] for r in rows if key in r["timings"] and not _no_model(r)]
        if values:
            s["latency"][key] = {"p50": percentile(values, 50), "p95": percentile(values, 95),
                                 "n": len(values)}
    return s


def _fully_grounded(row: dict[str, Any]) -> bool:
    """Has the answer claims, each supported by the passage it cites?"""
    return bool(row["claims"]) and all(c["label"] == SUPPORTED for c in row["claims"])


def _no_model(row: dict[str, Any]) -> bool:
    """Rows answered without generating (an instruction-override refusal) are left out of the
    latency figures, which describe answers the model produced."""
    return row["timings"].get("first_token_s", 1.0) == 0.0 and row["refused"]


def _cell(metric: dict[str, Any] | None) -> str:
    if not metric or metric["value"] != metric["value"]:  # missing, or NaN (no items)
        return "—"
    text = f"{100 * metric['value']:.1f}%"
    if "ci_low" in metric and metric.get("n"):
        text += f" [{100 * metric['ci_low']:.0f}–{100 * metric['ci_high']:.0f}]"
    return text


def markdown(summaries: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    systems = list(summaries)
    lines = [
        f"# askai eval — {meta['label']}",
        "",
        f"{meta['items']} of {meta['items_in_set']} items ({meta['set']}), "
        f"model `{meta['model']}`, "
        f"{meta['threads']} threads, judge: {meta['judge']}. Rates with bootstrap 95% intervals.",
        "",
        "| metric | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for key, title in HEADLINE + [("hit@1", "Retrieval hit@1"), ("hit@3", "Retrieval hit@3"),
                                  ("gold_doc_cited", "Gold document cited, correct answers"),
                                  ("correct_two_turn", "Correct on two-turn follow-ups"),
                                  ("claims_contradicted", "Claims contradicted")]:
        lines.append(f"| {title} | " + " | ".join(_cell(summaries[s].get(key)) for s in systems)
                     + " |")
    lines.append("| Retrieval MRR | " + " | ".join(
        f"{summaries[s]['mrr']['value']:.3f}" for s in systems) + " |")
    for key, title in (("retrieve_s", "Retrieval"), ("first_token_s", "Time to first token"),
                       ("total_s", "Total answer time")):
        cells = []
        for s in systems:
            lat = summaries[s]["latency"].get(key)
            cells.append(f"p50 {lat['p50']:.2f} s / p95 {lat['p95']:.2f} s" if lat else "—")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines += ["", "Confusion (answered/refused × answerable/unanswerable):", ""]
    for s in systems:
        c = summaries[s]["confusion"]
        lines.append(
            f"- {s}: answerable {c['answerable_answered']} answered / {c['answerable_refused']} "
            f"refused; unanswerable {c['unanswerable_answered']} answered / "
            f"{c['unanswerable_refused']} refused"
        )
    lines += ["", "Checker tiers (claims judged lexically / by the model judge / parse errors):",
              ""]
    for s in systems:
        k = summaries[s]["checker"]
        lines.append(f"- {s}: {k['tier1']} / {k['tier2']} / {k['judge_parse_errors']} "
                     f"of {k['claims']} claims")
    cal = meta.get("calibration")
    if cal:
        lines += ["", "Checker calibration against hand labels (eval/calibration.jsonl):", "",
                  "| pairs decided by | n | agreement | balanced accuracy |", "|---|---|---|---|"]
        for tier in ("all", "tier1", "tier2"):
            c = cal[tier]
            lines.append(f"| {tier} | {c['n']} | {100 * c['agreement']:.1f}% | "
                         f"{100 * c['balanced_accuracy']:.1f}% |")
    if meta.get("tradeoff"):
        from askai.eval.tradeoff import markdown as tradeoff_table

        lines += tradeoff_table(meta["tradeoff"], meta.get("min_coverage", 0.6),
                                meta.get("min_relevance", 0.0))
    return "\n".join(lines) + "\n"


def chart(summaries: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k, _ in HEADLINE]
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / max(1, len(summaries))
    for i, (name, s) in enumerate(summaries.items()):
        values = [100 * (s.get(k) or {}).get("value", 0) for k in keys]
        lows = [100 * ((s.get(k) or {}).get("value", 0) - (s.get(k) or {}).get("ci_low", 0))
                for k in keys]
        highs = [100 * ((s.get(k) or {}).get("ci_high", 0) - (s.get(k) or {}).get("value", 0))
                 for k in keys]
        xs = [x + i * width for x in range(len(keys))]
        ax.bar(xs, values, width, label=name, yerr=[lows, highs], capsize=3)
    ax.set_xticks([x + width * (len(summaries) - 1) / 2 for x in range(len(keys))])
    ax.set_xticklabels([k.replace("_", " ") for k in keys], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("% (95% CI)")
    ax.set_ylim(0, 105)
    ax.set_title("askai grounding benchmark (last two: lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out_dir: Path, summaries: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(
        json.dumps({"meta": meta, "systems": summaries}, indent=2) + "\n", encoding="utf-8"
    )
    md = markdown(summaries, meta)
    (out_dir / "report.md").write_text(md, encoding="utf-8")
    chart(summaries, out_dir / "chart.png")
    return md


COMBINED = HEADLINE + [("gold_doc_cited", "Gold document cited, correct answers")]


def write_combined(
    out_dir: Path, rows: dict[str, dict[str, list[dict[str, Any]]]], titles: dict[str, str],
    tradeoffs: dict[str, dict[str, Any]] | None = None,
) -> str:
    """One table over several corpora: ``rows[corpus][system]``; the last columns pool every
    corpus's rows (each item counted once). ``tradeoffs[corpus]`` (askai's refusal trade-off
    replayed at other relevance thresholds) adds a table per corpus and pooled."""
    systems = list(dict.fromkeys(s for by_system in rows.values() for s in by_system))
    groups = dict(rows)
    if len(rows) > 1:
        groups["all"] = {
            s: [r for by_system in rows.values() for r in by_system.get(s, [])] for s in systems
        }
    summaries = {
        (corpus, s): summarize(r) for corpus, by_system in groups.items()
        for s, r in by_system.items() if r
    }
    cols = list(summaries)
    lines = ["# askai eval — every corpus", ""]
    for corpus, by_system in rows.items():
        n = len(next(iter(by_system.values())))
        lines.append(f"- **{corpus}**: {titles.get(corpus, corpus)}, {n} items "
                     f"([report]({corpus}/report.md))")
    lines += ["", "| metric | " + " | ".join(f"{c} {s}" for c, s in cols) + " |",
              "|---|" + "---|" * len(cols)]
    for key, title in COMBINED:
        lines.append(f"| {title} | " + " | ".join(_cell(summaries[c].get(key)) for c in cols)
                     + " |")
    for key, title in (("first_token_s", "First token p50"), ("total_s", "Total p50")):
        cells = []
        for c in cols:
            lat = summaries[c]["latency"].get(key)
            cells.append(f"{lat['p50']:.2f} s" if lat else "—")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    if tradeoffs:
        lines += _pooled_tradeoff(rows, tradeoffs)
    md = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text(md, encoding="utf-8")
    (out_dir / "report.json").write_text(json.dumps(
        {f"{c}/{s}": v for (c, s), v in summaries.items()}, indent=2) + "\n", encoding="utf-8")
    return md


def _pooled_tradeoff(
    rows: dict[str, dict[str, list[dict[str, Any]]]], tradeoffs: dict[str, dict[str, Any]]
) -> list[str]:
    """askai's correct / false refusals / hallucinated answers per relevance threshold, per
    corpus and pooled (rates weighted by each corpus's answerable and unanswerable counts)."""
    corpora = [c for c in tradeoffs if tradeoffs[c].get("relevance")]
    if not corpora:
        return []
    counts = {
        c: (sum(r["kind"] == "answerable" for r in rows[c].get("askai", [])),
            sum(r["kind"] == "unanswerable" for r in rows[c].get("askai", [])))
        for c in corpora
    }
    lines = ["", "Refusal trade-off: askai's answers replayed at other relevance thresholds "
             "(correct / false refusals / hallucinated answers):", "",
             "| min relevance | " + " | ".join(corpora) + " | pooled |",
             "|---|" + "---|" * (len(corpora) + 1)]
    thresholds = [p["min_relevance"] for p in tradeoffs[corpora[0]]["relevance"]]
    for i, t in enumerate(thresholds):
        cells, pooled = [], [0.0, 0.0, 0.0]
        for c in corpora:
            p = tradeoffs[c]["relevance"][i]
            n_ans, n_un = counts[c]
            cells.append(f"{100 * p['correct']:.0f} / {100 * p['false_refusal']:.0f} / "
                         f"{100 * p['hallucinated']:.0f}")
            pooled[0] += p["correct"] * n_ans
            pooled[1] += p["false_refusal"] * n_ans
            pooled[2] += p["hallucinated"] * n_un
        n_ans = sum(a for a, _ in counts.values()) or 1
        n_un = sum(u for _, u in counts.values()) or 1
        cells.append(f"{100 * pooled[0] / n_ans:.1f} / {100 * pooled[1] / n_ans:.1f} / "
                     f"{100 * pooled[2] / n_un:.1f}")
        lines.append(f"| {t:.1f} | " + " | ".join(cells) + " |")
    return lines
