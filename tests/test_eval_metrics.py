"""Every metric against hand-computed values, and the eval set's labels against the corpus."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from askai.eval.dataset import Item, load_items
from askai.eval.metrics import (
    balanced_accuracy,
    bootstrap_ci,
    contains_facts,
    first_hit_rank,
    hit_at,
    percentile,
    rate_with_ci,
    reciprocal_rank,
)
from askai.eval.report import summarize
from askai.eval.runner import claims_with_citations, judge_claims
from askai.eval.tradeoff import tradeoff
from askai.grounding import (
    CONTRADICTED,
    NOT_SUPPORTED,
    SUPPORTED,
    parse_judgement,
    verdict,
)

from .conftest import ROOT

EVAL_SET = ROOT / "eval" / "questions.jsonl"


def test_every_gold_quote_is_the_document_text_at_its_offsets() -> None:
    items = load_items(EVAL_SET)
    for item in items:
        for ev in item.evidence:
            text = (ROOT / "ingest" / ev.doc).read_text(encoding="utf-8")
            assert text[ev.start : ev.end] == ev.quote, item.id


def test_eval_set_composition() -> None:
    items = load_items(EVAL_SET)
    answerable = [i for i in items if i.answerable]
    unanswerable = [i for i in items if not i.answerable]
    assert len(items) >= 80 and len(answerable) >= 60 and len(unanswerable) >= 20
    assert len([i for i in items if i.history_question]) >= 10
    assert {e.doc for i in answerable for e in i.evidence} == {
        f"corpus/{p.name}" for p in (ROOT / "ingest" / "corpus").glob("*.txt")
    }
    assert len([i for i in answerable if len({e.doc for e in i.evidence}) > 1]) >= 3
    kinds = {i.category for i in unanswerable}
    assert {"out_of_corpus", "false_premise", "near_miss", "override"} <= kinds


def test_bad_eval_item_is_a_clear_error(tmp_path: Path) -> None:
    from askai.errors import ConfigError

    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"id": "x", "kind": "maybe", "category": "c", "question": "q"}))
    with pytest.raises(ConfigError, match="kind must be one of"):
        load_items(path)
    path.write_text(json.dumps({"id": "x", "kind": "answerable", "category": "c", "question": "q"}))
    with pytest.raises(ConfigError, match="needs facts and evidence"):
        load_items(path)


def test_hit_at_k_and_mrr() -> None:
    gold = [("a.txt", 100, 150)]
    retrieved = [("b.txt", 100, 150), ("a.txt", 0, 100), ("a.txt", 140, 300), ("a.txt", 120, 130)]
    rank = first_hit_rank(retrieved, gold)
    assert rank == 3  # touching at 100 is not an overlap; 140-300 overlaps 100-150
    assert (hit_at(rank, 1), hit_at(rank, 3), hit_at(rank, 5)) == (False, True, True)
    assert reciprocal_rank(rank) == pytest.approx(1 / 3)
    assert first_hit_rank(retrieved[:2], gold) is None and reciprocal_rank(None) == 0.0


def test_contains_facts() -> None:
    assert contains_facts("Biren Technology and Iluvatar CoreX.", [["Biren"], ["iluvatar"]])
    assert not contains_facts("Only Biren.", [["Biren"], ["Iluvatar"]])
    assert contains_facts("They use 3 nm or 5nm nodes", [["3nm", "3 nm"], ["5nm"]])
    assert contains_facts("the “de‑Americanization” plan", [["de-Americanization"]])


def test_percentile_and_bootstrap() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([5], 95) == 5
    low, high = bootstrap_ci([1.0] * 10)
    assert (low, high) == (1.0, 1.0)
    values = [1.0] * 50 + [0.0] * 50
    low, high = bootstrap_ci(values, seed=1)
    assert 0.38 < low < 0.45 and 0.55 < high < 0.62  # ± 1.96 * sqrt(.25/100) ≈ ± 0.098
    assert bootstrap_ci(values, seed=1) == (low, high)  # seeded: reproducible
    r = rate_with_ci([True, False, True, True])
    assert r["value"] == 0.75 and r["n"] == 4 and r["ci_low"] <= 0.75 <= r["ci_high"]
    assert math.isnan(rate_with_ci([])["value"])


def test_balanced_accuracy() -> None:
    # 3 positives: 2 predicted right; 2 negatives: 1 right -> (2/3 + 1/2) / 2
    predicted = [True, True, False, False, True]
    actual = [True, True, True, False, False]
    assert balanced_accuracy(predicted, actual) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_claim_splitter_keeps_markers_per_sentence() -> None:
    text = "Biren and Iluvatar pioneer chiplets [1]. They avoid 3nm processes [1, 2]. Done."
    assert claims_with_citations(text) == [
        ("Biren and Iluvatar pioneer chiplets.", [1]),
        ("They avoid 3nm processes.", [1, 2]),
        ("Done.", []),
    ]
    # a marker after the full stop belongs to the sentence before it
    assert claims_with_citations("Midea automates lines. [3] Next one.") == [
        ("Midea automates lines.", [3]), ("Next one.", []),
    ]


def test_judge_replies_are_parsed_and_errors_counted() -> None:
    assert parse_judgement("SUPPORTED").label == SUPPORTED
    assert parse_judgement(" not_supported.").label == NOT_SUPPORTED
    assert parse_judgement("NOT SUPPORTED").label == NOT_SUPPORTED
    bad = parse_judgement("Maybe?")
    assert bad.error and bad.label == NOT_SUPPORTED


def test_two_tier_verdicts() -> None:
    evidence = "Beijing alone now boasts 219 registered generative AI models."
    v = verdict("Beijing has 219 registered generative AI models.", evidence)
    assert (v.label, v.tier) == (SUPPORTED, 1)
    v = verdict("Beijing has 300 registered generative AI models.", evidence)
    assert (v.label, v.tier) == (NOT_SUPPORTED, 1) and "300" in v.reason
    v = verdict("Beijing does not have registered generative AI models.", evidence)
    assert v.label == CONTRADICTED
    assert verdict("Anything at all.", "").reason == "no evidence cited"
    calls = []

    def judge(claim: str, ev: str):  # noqa: ANN202 - a stand-in judge that records its calls
        calls.append(claim)
        return parse_judgement("SUPPORTED")

    # in between: about half the words, no hard constraint broken -> goes to tier 2
    v = verdict("Beijing hosts many registered systems.", evidence, judge)  # type: ignore[arg-type]
    assert calls == ["Beijing hosts many registered systems."] and v.tier == 2


def test_summarize_hand_computed() -> None:
    def row(kind, refused, facts_ok, rank, claims, citations):  # noqa: ANN001, ANN202
        return {"kind": kind, "category": "single", "refused": refused, "facts_ok": facts_ok,
                "rank": rank, "claims": claims, "citations": citations,
                "precision": [{"supported": c["label"] == SUPPORTED, "tier": 1, "error": False}
                              for c in claims if c["citations"]],
                "timings": {"retrieve_s": 0.1, "first_token_s": 1.0, "total_s": 2.0}}

    ok = {"label": SUPPORTED, "citations": 1, "tier": 1, "error": False}
    bad = {"label": NOT_SUPPORTED, "citations": 1, "tier": 2, "error": False}
    valid = {"valid": True}
    rows = [
        row("answerable", False, True, 1, [ok, ok], [valid]),
        row("answerable", False, False, 4, [ok, bad], [valid, {"valid": False}]),
        row("answerable", True, False, None, [], []),
        row("unanswerable", True, False, None, [], []),
        row("unanswerable", False, False, None, [bad], [valid]),
    ]
    s = summarize(rows)
    assert s["correct"]["value"] == pytest.approx(1 / 3)
    assert s["hit@1"]["value"] == pytest.approx(1 / 3)
    assert s["hit@5"]["value"] == pytest.approx(2 / 3)
    assert s["mrr"]["value"] == pytest.approx((1 + 1 / 4 + 0) / 3)
    assert s["claims_supported"]["value"] == pytest.approx(3 / 5)
    assert s["citation_precision"]["value"] == pytest.approx(3 / 5)
    assert s["citation_validity"]["value"] == pytest.approx(3 / 4)
    assert s["answers_fully_grounded"]["value"] == pytest.approx(1 / 3)
    assert s["hallucination_rate"]["value"] == 0.5
    assert s["false_refusal_rate"]["value"] == pytest.approx(1 / 3)
    assert s["confusion"] == {"answerable_answered": 2, "answerable_refused": 1,
                              "unanswerable_answered": 1, "unanswerable_refused": 1}
    assert s["checker"] == {"claims": 5, "tier1": 3, "tier2": 2, "judge_parse_errors": 0}
    assert s["latency"]["total_s"]["p50"] == 2.0
    assert s["correct_grounded"]["value"] == pytest.approx(1 / 3)
    # a correct answer with a claim its citation does not support is correct, not grounded
    s = summarize([row("answerable", False, True, 1, [ok, ok], [valid]),
                   row("answerable", False, True, 1, [ok, bad], [valid])])
    assert s["correct"]["value"] == 1.0 and s["correct_grounded"]["value"] == 0.5


def test_judge_claims_uses_each_marker() -> None:
    quotes = {1: "Biren Technology and Iluvatar CoreX are pioneering chiplets.",
              2: "The lighthouse is painted blue."}
    claims, precision = judge_claims(
        "Biren and Iluvatar CoreX pioneer chiplets [1]. The lighthouse is red [2]. Hi.",
        quotes.get, None,
    )
    assert [c["label"] for c in claims] == [SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED]
    assert [c["citations"] for c in claims] == [1, 1, 0]
    assert [p["supported"] for p in precision] == [True, False]


def test_calibration_figures_per_tier(tmp_path: Path) -> None:
    from askai.eval.calibration import calibrate, load_labels

    evidence = "Beijing alone now boasts 219 registered generative AI models."
    pairs = [
        {"id": "1", "claim": "Beijing has 219 registered generative AI models.",
         "evidence": evidence, "label": True},   # tier 1 says supported: agrees
        {"id": "2", "claim": "Beijing has 300 registered generative AI models.",
         "evidence": evidence, "label": False},  # tier 1 not supported: agrees
        {"id": "3", "claim": "Shanghai has 219 registered generative AI models.",
         "evidence": evidence, "label": True},   # tier 1 not supported (name): disagrees
    ]
    path = tmp_path / "cal.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    result = calibrate(load_labels(path), judge=None)
    assert result["all"]["n"] == 3 and result["tier2"]["n"] == 0
    assert result["all"]["agreement"] == pytest.approx(2 / 3)
    # positives: 1 of 2 right; negatives: 1 of 1 right
    assert result["all"]["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    path.write_text(json.dumps({"id": "x", "claim": "c", "evidence": "e", "label": None}) + "\n")
    with pytest.raises(ValueError, match="no true/false label"):
        load_labels(path)


def test_refusal_tradeoff_replays_verification_at_each_threshold() -> None:
    passage = {"source": "l.txt", "start": 0, "end": 60, "score": 1.0,
               "text": "Its lamp is visible from 31 kilometres away on a clear night."}
    items = [Item("a1", "answerable", "x", "How far is the lamp visible?", "31 km", [["31"]]),
             Item("u1", "unanswerable", "x", "Who painted the lamp?", ""),
             Item("u2", "unanswerable", "x", "What colour is the lamp?", "")]
    rows = [
        # half of the claim's content words are in the passage
        {"id": "a1", "searched": items[0].question, "passages": [passage],
         "raw_text": "The lamp is visible from 31 kilometres across the dark northern sea [1]."},
        {"id": "u1", "searched": items[1].question, "passages": [passage], "raw_text": ""},
        {"id": "u2", "searched": items[2].question, "passages": [passage],
         "raw_text": "The lamp is visible on a clear night, painted bright red [1]."},
    ]
    result = tradeoff(rows, items, thresholds=(0.3, 0.6, 0.9), relevance_thresholds=(0.5,))
    curve = {round(p["min_coverage"], 1): p for p in result["coverage"]}
    assert curve[0.3] == {"min_coverage": 0.3, "min_relevance": 0.0, "correct": 1.0,
                          "false_refusal": 0.0, "hallucinated": 0.5}
    assert curve[0.9] == {"min_coverage": 0.9, "min_relevance": 0.0, "correct": 0.0,
                          "false_refusal": 1.0, "hallucinated": 0.0}
    assert curve[0.6]["false_refusal"] == 1.0
    assert result["relevance"] == []  # no row was relevance-checked: nothing to replay


def test_refusal_tradeoff_replays_the_relevance_threshold() -> None:
    passage = {"source": "l.txt", "start": 0, "end": 60, "score": 1.0,
               "text": "Its lamp is visible from 31 kilometres away on a clear night."}
    items = [Item("a1", "answerable", "x", "How far is the lamp visible?", "31 km", [["31"]]),
             Item("u1", "unanswerable", "x", "How far is the lamp of Pharos visible?", "")]
    raw = "The lamp is visible from 31 kilometres away [1]."
    rows = [
        {"id": "a1", "searched": items[0].question, "passages": [passage], "raw_text": raw,
         "relevance": 0.8},
        {"id": "u1", "searched": items[1].question, "passages": [passage], "raw_text": raw,
         "relevance": 0.3},
    ]
    result = tradeoff(rows, items, min_coverage=0.6, thresholds=(),
                      relevance_thresholds=(0.0, 0.5, 0.9))
    points = {p["min_relevance"]: p for p in result["relevance"]}
    assert (points[0.0]["correct"], points[0.0]["hallucinated"]) == (1.0, 1.0)
    assert (points[0.5]["correct"], points[0.5]["hallucinated"]) == (1.0, 0.0)
    assert (points[0.9]["false_refusal"], points[0.9]["hallucinated"]) == (1.0, 0.0)
