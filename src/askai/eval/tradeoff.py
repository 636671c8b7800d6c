"""The refusal trade-off: how answer-time verification's strictness moves hallucinated answers
against false refusals.

Each askai row keeps the model's raw output, the passages it was given and the relevance check's
probability, so both checks can be replayed offline at other thresholds without generating
again: the lexical check (:func:`askai.answer.cite`) at other word-coverage thresholds, and the
relevance check at other probability thresholds. Stricter thresholds refuse more often.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from askai.answer import cite
from askai.eval.dataset import Item
from askai.eval.metrics import contains_facts
from askai.types import Passage

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RELEVANCE_THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def replay(
    row: dict[str, Any], min_coverage: float, min_relevance: float = 0.0,
    anchored_coverage: float | None = None,
) -> tuple[bool, str]:
    """(refused, text) of the row's raw answer verified at ``min_coverage`` and, when the row has
    a relevance probability, ``min_relevance`` (a row answered without the relevance check keeps
    its answer at every relevance threshold)."""
    if not row.get("raw_text"):  # refused before generating (gate, override, no evidence)
        return True, ""
    passages = [
        Passage(source=p["source"], title="", text=p["text"], start=p["start"], end=p["end"],
                score=p["score"], section=p.get("section", ""))
        for p in row["passages"]
    ]
    cited = cite(row["raw_text"], passages, question=row["searched"], min_coverage=min_coverage,
                 anchored_coverage=anchored_coverage)
    relevance = row.get("relevance")
    if cited.refused or (relevance is not None and relevance < min_relevance):
        return True, ""
    return False, cited.text


def _point(
    answerable: list[dict[str, Any]], unanswerable: list[dict[str, Any]], by_id: dict[str, Item],
    min_coverage: float, min_relevance: float, anchored_coverage: float | None = None,
) -> dict[str, float]:
    correct = refused_ok = answered_bad = 0
    for r in answerable:
        refused, text = replay(r, min_coverage, min_relevance, anchored_coverage)
        refused_ok += refused
        correct += (not refused) and contains_facts(text, by_id[r["id"]].facts)
    for r in unanswerable:
        answered_bad += not replay(r, min_coverage, min_relevance, anchored_coverage)[0]
    return {
        "min_coverage": min_coverage, "min_relevance": min_relevance,
        "correct": correct / max(1, len(answerable)),
        "false_refusal": refused_ok / max(1, len(answerable)),
        "hallucinated": answered_bad / max(1, len(unanswerable)),
    }


def tradeoff(
    rows: Sequence[dict[str, Any]], items: Sequence[Item], *, min_coverage: float = 0.6,
    min_relevance: float = 0.0, thresholds: Sequence[float] = THRESHOLDS,
    relevance_thresholds: Sequence[float] = RELEVANCE_THRESHOLDS,
    anchored_coverage: float | None = None,
) -> dict[str, list[dict[str, float]]]:
    """Correct, false-refusal and hallucinated-answer rates (0..1): per coverage threshold at
    the run's relevance threshold, and per relevance threshold at the run's coverage threshold."""
    by_id = {i.id: i for i in items}
    usable = [r for r in rows if "passages" in r and r["id"] in by_id]
    answerable = [r for r in usable if by_id[r["id"]].answerable]
    unanswerable = [r for r in usable if not by_id[r["id"]].answerable]
    return {
        "coverage": [_point(answerable, unanswerable, by_id, t, min_relevance, anchored_coverage)
                     for t in thresholds],
        "relevance": [_point(answerable, unanswerable, by_id, min_coverage, t, anchored_coverage)
                      for t in relevance_thresholds]
        if any(r.get("relevance") is not None for r in usable) else [],
    }


def markdown(
    curve: dict[str, list[dict[str, float]]], min_coverage: float, min_relevance: float
) -> list[str]:
    lines = [
        "", "Refusal trade-off (answer-time checks replayed offline at other thresholds; askai "
        f"runs at min coverage {min_coverage}, min relevance {min_relevance}):", "",
        "| min coverage | min relevance | correct | false refusals | hallucinated answers |",
        "|---|---|---|---|---|",
    ]
    for p in curve["coverage"] + curve["relevance"]:
        current = (abs(p["min_coverage"] - min_coverage) < 1e-9
                   and abs(p["min_relevance"] - min_relevance) < 1e-9)
        lines.append(f"| {p['min_coverage']:.1f} | {p['min_relevance']:.1f}"
                     f"{' (current)' if current else ''} | {100 * p['correct']:.1f}% | "
                     f"{100 * p['false_refusal']:.1f}% | {100 * p['hallucinated']:.1f}% |")
    return lines
