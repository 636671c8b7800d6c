"""How far to trust the checker: its verdicts against hand labels, overall and per tier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from askai.eval.metrics import balanced_accuracy, mean
from askai.grounding import Judge, verdict


def load_labels(path: Path) -> list[dict[str, Any]]:
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for p in pairs:
        if not isinstance(p.get("label"), bool):
            raise ValueError(f"{path}: pair {p.get('id')} has no true/false label")
    return pairs


def calibrate(pairs: list[dict[str, Any]], judge: Judge | None) -> dict[str, Any]:
    """Agreement and balanced accuracy of ``verdict`` with the hand labels (``label`` = the claim
    is supported by the evidence), for all pairs and for the pairs each tier decided."""
    rows = []
    for p in pairs:
        v = verdict(p["claim"], p["evidence"], judge, question=p.get("question", ""))
        rows.append((v.tier, v.supported, p["label"], v.error))

    def figures(subset: list[tuple[int, bool, bool, bool]]) -> dict[str, Any]:
        predicted = [r[1] for r in subset]
        actual = [r[2] for r in subset]
        return {
            "n": len(subset),
            "supported_labels": sum(actual),
            "agreement": mean(
                [1.0 if p == a else 0.0 for p, a in zip(predicted, actual, strict=True)]
            ),
            "balanced_accuracy": balanced_accuracy(predicted, actual) if subset else float("nan"),
            "judge_parse_errors": sum(r[3] for r in subset),
        }

    return {
        "all": figures(rows),
        "tier1": figures([r for r in rows if r[0] == 1]),
        "tier2": figures([r for r in rows if r[0] == 2]),
    }
