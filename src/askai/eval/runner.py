"""Run systems over the eval set, one JSON row per (system, item), resumable."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from askai.answer import claims_with_citations
from askai.docnames import same_document
from askai.engine import Engine
from askai.eval.corpora import quote_in
from askai.eval.dataset import Item
from askai.eval.metrics import contains_facts, first_hit_rank
from askai.grounding import Judge, verdict

RETRIEVE_K = 5


def judge_claims(
    text: str, cited: Callable[[int], str | None], judge: Judge | None, question: str = ""
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Verdicts per claim (against all its citations) and per citation (against its claim)."""
    claims, precision = [], []
    for claim, markers in claims_with_citations(text):
        quotes = [q for q in (cited(m) for m in markers) if q is not None]
        v = verdict(claim, " ".join(quotes), judge, question=question)
        claims.append({"text": claim, "citations": len(quotes), "label": v.label,
                       "tier": v.tier, "error": v.error, "reason": v.reason})
        for quote in quotes:
            pv = v if len(quotes) == 1 else verdict(claim, quote, judge, question=question)
            precision.append({"supported": pv.supported, "tier": pv.tier, "error": pv.error})
    return claims, precision


def askai_row(engine: Engine, item: Item, judge: Judge | None) -> dict[str, Any]:
    history = []
    if item.history_question:
        first = engine.ask(item.history_question)
        history = [(item.history_question, first.text)]
    answer = engine.ask(item.question, history=history)
    t0 = time.perf_counter()
    _, hits = engine.search(answer.searched, RETRIEVE_K)
    search_s = time.perf_counter() - t0
    retrieved = [(h.chunk.doc_id, h.chunk.start, h.chunk.end) for h in hits]
    retrieved_text = [h.chunk.text for h in hits]
    by_marker = {c.marker: c for c in answer.citations}
    claims, precision = judge_claims(
        answer.text, lambda m: by_marker[m].quote if m in by_marker else None, judge,
        answer.searched,
    )
    citations = [
        {"source": c.source, "start": c.start, "end": c.end,
         "valid": engine.document_text(c.source)[c.start : c.end] == c.quote}
        for c in answer.citations
    ]
    return {
        "question": item.question, "searched": answer.searched, "text": answer.text,
        "raw_text": answer.raw_text, "refused": answer.refused, "relevance": answer.relevance,
        "retrieved": retrieved, "retrieved_text": retrieved_text, "citations": citations,
        "claims": claims,
        "precision": precision, "timings": {**answer.timings, "search_only_s": search_s},
        "dropped": [s.text for s in answer.sentences if not s.supported],
        "passages": [
            {"source": p.source, "start": p.start, "end": p.end, "text": p.text,
             "score": p.score, "section": p.section}
            for p in answer.passages
        ],
    }


def gold_rank(row: dict[str, Any], item: Item) -> int | None:
    """1-based rank of the first retrieved chunk holding gold evidence. Rows that keep the
    retrieved texts are matched by quote (any system's own text: the baseline extracts documents
    differently, so offsets would not compare); older rows by offsets."""
    if not item.evidence:
        return None
    if "retrieved_text" in row:
        for rank, ((doc, _, _), text) in enumerate(
            zip(row["retrieved"], row["retrieved_text"], strict=True), start=1
        ):
            if any(same_document(doc, e.doc) and quote_in(text, e.quote) for e in item.evidence):
                return rank
        return None
    gold = [(e.doc, e.start, e.end) for e in item.evidence]
    return first_hit_rank([tuple(r) for r in row["retrieved"]], gold)


def score_row(row: dict[str, Any], item: Item) -> dict[str, Any]:
    gold_docs = sorted({e.doc for e in item.evidence})
    row.update(
        id=item.id, kind=item.kind, category=item.category, gold_docs=gold_docs,
        gold_cited=any(same_document(c["source"], g) for c in row["citations"] for g in gold_docs),
        rank=gold_rank(row, item),
        facts_ok=bool(item.facts)
        and not row["refused"]
        and contains_facts(row["text"], item.facts),
    )
    return row


def load_rows(out: Path) -> dict[str, dict[str, Any]]:
    """Rows already written to ``out``, by item id."""
    done: dict[str, dict[str, Any]] = {}
    if out.is_file():
        for line in out.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["id"]] = row
    return done


def run_system(
    name: str,
    answer_fn: Callable[[Item], dict[str, Any]],
    items: Iterable[Item],
    out: Path,
    *,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Answer every item not yet in ``out`` (JSON lines), appending as it goes; return all rows."""
    done = load_rows(out)
    items = list(items)
    todo = [i for i in items if i.id not in done]
    iterator: Iterable[Item] = todo
    if progress and todo:
        from tqdm import tqdm

        iterator = tqdm(todo, desc=f"eval {name}", unit="item")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        for item in iterator:
            row = score_row(answer_fn(item), item)
            row["system"] = name
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            done[item.id] = row
    return [done[i.id] for i in items]
