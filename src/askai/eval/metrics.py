"""Benchmark metrics: each a small pure function, unit-tested against hand-computed values."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from askai.docnames import same_document

Span = tuple[str, int, int]  # (document id, start, end)

_FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "‑": "-", "–": "-", "—": "-"})


def overlaps(a: Span, b: Span) -> bool:
    """Do two spans overlap? A document id may be a whole path and the other a path relative
    to the ingested folder (an eval set's gold document)."""
    same = same_document(a[0], b[0]) or same_document(b[0], a[0])
    return same and a[1] < b[2] and b[1] < a[2]


def first_hit_rank(retrieved: Sequence[Span], gold: Sequence[Span]) -> int | None:
    """1-based rank of the first retrieved span that overlaps any gold span."""
    for rank, span in enumerate(retrieved, start=1):
        if any(overlaps(span, g) for g in gold):
            return rank
    return None


def hit_at(rank: int | None, k: int) -> bool:
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_FOLD).casefold())


def contains_facts(text: str, facts: Sequence[Sequence[str]]) -> bool:
    """Every group of facts has at least one variant in ``text`` (case- and dash-insensitive)."""
    haystack = _norm(text)
    return all(any(_norm(v) in haystack for v in group) for group in facts)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), ``p`` in 0..100."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[[Sequence[float]], float] = mean,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` over ``values``."""
    if not values:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    n = len(values)
    stats = sorted(
        statistic([values[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples)
    )
    alpha = (1 - level) / 2
    return (percentile(stats, 100 * alpha), percentile(stats, 100 * (1 - alpha)))


def rate_with_ci(flags: Sequence[bool], seed: int = 0) -> dict[str, float | int]:
    values = [1.0 if f else 0.0 for f in flags]
    low, high = bootstrap_ci(values, seed=seed)
    return {"value": mean(values), "ci_low": low, "ci_high": high, "n": len(values)}


def balanced_accuracy(predicted: Sequence[bool], actual: Sequence[bool]) -> float:
    """Mean of the true-positive rate and the true-negative rate."""
    pos = [p for p, a in zip(predicted, actual, strict=True) if a]
    neg = [p for p, a in zip(predicted, actual, strict=True) if not a]
    tpr = mean([1.0 if p else 0.0 for p in pos]) if pos else float("nan")
    tnr = mean([0.0 if p else 1.0 for p in neg]) if neg else float("nan")
    return (tpr + tnr) / 2
