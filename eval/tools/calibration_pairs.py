"""Collect (claim, evidence) pairs from real askai answers for hand labelling.

    python eval/tools/calibration_pairs.py eval/results/latest/askai.jsonl out.jsonl

For every answered or refused item, each sentence of the model's raw answer becomes a claim; its
evidence is the passage its [n] marker names (the passages are retrieved again: retrieval is
deterministic), or, without a usable marker, the passage sharing most words with it. Labels are
left empty (null): a person fills them in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import askai
from askai.eval.runner import claims_with_citations
from askai.grounding import check_claim


def main(argv: list[str]) -> int:
    rows = [json.loads(line) for line in Path(argv[0]).read_text().splitlines() if line]
    engine = askai.build_engine()
    pairs = []
    for row in rows:
        if not row["raw_text"].strip() or row["raw_text"].startswith("I couldn't find"):
            continue
        passages = engine.retrieve(row["searched"])
        for claim, markers in claims_with_citations(row["raw_text"]):
            named = [m for m in markers if 1 <= m <= len(passages)]
            if named:
                evidence = passages[named[0] - 1].text
            else:
                evidence = max(passages, key=lambda p: check_claim(claim, p.text).coverage).text
            pairs.append({"id": f"{row['id']}-{len(pairs)}", "item": row["id"],
                          "question": row["searched"], "claim": claim,
                          "evidence": " ".join(evidence.split()), "label": None})
    Path(argv[1]).write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    print(f"{len(pairs)} pairs from {len(rows)} answers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
