"""The refusal trade-off: how answer-time verification's strictness moves hallucinated answers
against false refusals.

Each askai row keeps the model's raw output and the passages it was given, so the verification
(:func:`askai.answer.cite`) can be replayed offline at other word-coverage thresholds without
generating again. A stricter threshold drops more sentences and refuses more often.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from askai.answer import cite
from askai.eval.dataset import Item
from askai.eval.metrics import contains_facts
from askai.types import Passage

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def replay(row: dict[str, Any], min_coverage: float) -> tuple[bool, str]:
    """(refused, text) of the row's raw answer verified at ``min_coverage``."""
    if not row.get("raw_text"):  # refused before generating (gate, override, no evidence)
        return True, ""
    passages = [
        Passage(source=p["source"], title="", text=p["text"], start=p["start"], end=p["end"],
                score=p["score"])
        for p in row["passages"]
    ]
    cited = cite(row["raw_text"], passages, question=row["searched"], min_coverage=min_coverage)
    return cited.refused, cited.text


def tradeoff(
    rows: Sequence[dict[str, Any]], items: Sequence[Item],
    thresholds: Sequence[float] = THRESHOLDS,
) -> list[dict[str, float]]:
    """Per threshold: correct, false-refusal and hallucinated-answer rates (0..1)."""
    by_id = {i.id: i for i in items}
    usable = [r for r in rows if "passages" in r and r["id"] in by_id]
    answerable = [r for r in usable if by_id[r["id"]].answerable]
    unanswerable = [r for r in usable if not by_id[r["id"]].answerable]
    curve = []
    for t in thresholds:
        correct = refused_ok = answered_bad = 0
        for r in answerable:
            refused, text = replay(r, t)
            refused_ok += refused
            correct += (not refused) and contains_facts(text, by_id[r["id"]].facts)
        for r in unanswerable:
            answered_bad += not replay(r, t)[0]
        curve.append({
            "min_coverage": t,
            "correct": correct / max(1, len(answerable)),
            "false_refusal": refused_ok / max(1, len(answerable)),
            "hallucinated": answered_bad / max(1, len(unanswerable)),
        })
    return curve


def markdown(curve: list[dict[str, float]], current: float) -> list[str]:
    lines = [
        "", "Refusal trade-off (answer-time verification replayed at other word-coverage "
        f"thresholds; askai runs at {current}):", "",
        "| min coverage | correct | false refusals | hallucinated answers |", "|---|---|---|---|",
    ]
    for p in curve:
        mark = " (current)" if abs(p["min_coverage"] - current) < 1e-9 else ""
        lines.append(f"| {p['min_coverage']:.1f}{mark} | {100 * p['correct']:.1f}% | "
                     f"{100 * p['false_refusal']:.1f}% | {100 * p['hallucinated']:.1f}% |")
    return lines
