"""Two eval runs of askai side by side, per corpus, on the items both answered: the A/B table of
a setting (e.g. the passage KV cache) against the default.

    python eval/tools/ab_compare.py eval/results/s7-sequential eval/results/s7-cache

Each run folder holds ``<corpus>/askai.jsonl`` (as ``askai eval --label`` writes them); the
metrics are the eval report's own (:func:`askai.eval.report.summarize`), printed as Markdown."""

from __future__ import annotations

import sys
from pathlib import Path
from statistics import median
from typing import Any

from askai.eval.report import summarize
from askai.eval.runner import load_rows

CORPORA = ("python-doc", "r-manuals", "articles")
METRICS = (  # (label, key of the report's summary)
    ("Correct (required facts), answerable", "correct"),
    ("Refused an answerable item", "false_refusal_rate"),
    ("Answered an unanswerable item", "hallucination_rate"),
    ("Claims supported by their citations", "claims_supported"),
    ("Quotes valid", "citation_validity"),
)


def _pct(metric: dict[str, Any]) -> str:
    value = metric["value"]
    return "—" if value != value else f"{100 * value:.1f}%"


def _median(rows: list[dict[str, Any]], key: str) -> str:
    values = [r["timings"][key] for r in rows if key in r.get("timings", {})]
    return f"{median(values):.1f} s" if values else "—"


def compare(a: Path, b: Path) -> str:
    lines = [f"| corpus (items both answered) | metric | {a.name} | {b.name} |",
             "|---|---|---|---|"]
    pooled: dict[str, list[dict[str, Any]]] = {a.name: [], b.name: []}
    for corpus in CORPORA:
        ra, rb = load_rows(a / corpus / "askai.jsonl"), load_rows(b / corpus / "askai.jsonl")
        common = [i for i in ra if i in rb]
        if not common:
            continue
        sa, sb = summarize([ra[i] for i in common]), summarize([rb[i] for i in common])
        pooled[a.name] += [ra[i] for i in common]
        pooled[b.name] += [rb[i] for i in common]
        head = f"| {corpus} ({len(common)}) |"
        for label, key in METRICS:
            lines.append(f"{head} {label} | {_pct(sa[key])} | {_pct(sb[key])} |")
        same = sum(ra[i]["refused"] == rb[i]["refused"] for i in common)
        lines.append(f"{head} Same refusal decision | {same} of {len(common)} | |")
        for key in ("first_token_s", "total_s"):
            lines.append(f"{head} {key} p50 | "
                         f"{_median([ra[i] for i in common], key)} | "
                         f"{_median([rb[i] for i in common], key)} |")
    if pooled[a.name]:
        sa, sb = summarize(pooled[a.name]), summarize(pooled[b.name])
        n = len(pooled[a.name])
        for label, key in METRICS:
            lines.append(f"| all ({n}) | {label} | {_pct(sa[key])} | {_pct(sb[key])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(compare(Path(sys.argv[1]), Path(sys.argv[2])))
