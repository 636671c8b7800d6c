"""What askai's refusals of answerable items cost: for each corpus of an eval label, the refused
answerable items split by whether the model's draft (``raw_text``, before the checks) held the
item's required facts. A refused draft without them was a wrong answer the checks kept from the
reader; one with them is an answer the checks cost. Also, of the unanswerable items askai
answered, and of the answerable ones it answered wrong, how many. No model is loaded.

    .venv/bin/python eval/tools/refusal_audit.py eval/results/s8 [--stride 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from askai.eval.corpora import CORPORA
from askai.eval.dataset import load_items
from askai.eval.metrics import contains_facts
from askai.eval.runner import load_rows


def audit(rows: list[dict], facts: dict[str, list[list[str]]]) -> dict[str, object]:
    answerable = [r for r in rows if r["kind"] == "answerable"]
    in_draft = {r["id"]: contains_facts(r.get("raw_text") or "", facts[r["id"]])
                for r in answerable}
    refused = [r for r in answerable if r["refused"]]
    kept_wrong = [r["id"] for r in refused if not in_draft[r["id"]]]
    cost = [r["id"] for r in refused if in_draft[r["id"]]]
    return {
        "answerable": len(answerable),
        "refused": len(refused),
        "refused_draft_without_facts": len(kept_wrong),
        "refused_draft_with_facts": len(cost),
        "refused_draft_with_facts_ids": cost,
        "answered_wrong": sum(not r["refused"] and not r["facts_ok"] for r in answerable),
        "drafts_with_facts": sum(in_draft.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("label_dir", type=Path)
    parser.add_argument("--stride", type=int, default=1, help="the run's --stride (its items)")
    args = parser.parse_args()
    out = {}
    for name, corpus in CORPORA.items():
        path = args.label_dir / name / "askai.jsonl"
        if not path.is_file():
            continue
        items = load_items(corpus.questions)[::args.stride]
        stored = load_rows(path)  # the last row of an item answered twice
        rows = [stored[i.id] for i in items if i.id in stored]
        facts = {i.id: [list(g) for g in i.facts] for i in items}
        out[name] = audit(rows, facts)
        print(json.dumps({name: out[name]}))


if __name__ == "__main__":
    main()
