"""The passage KV cache (llm.passage_cache): speed and answer quality, sequential vs spliced.

Two engines share one index, one embedder and one llama.cpp model (with a passage cache in a
temporary folder); one builds the ordinary sequential prompt, the other assembles it from cached
passage keys/values. Both contexts are warmed with an untimed answer (their system prompt stays
cached, as in a running app).

``--mode session`` (speed): a realistic session, ``--questions`` questions about one document of
the shipped corpus (eval/questions.jsonl items whose evidence is in ``--document``). Each question
is asked three ways, interleaved, the order rotating per question: sequential; spliced with the
cache emptied first (cold: every passage computed and stored); spliced again (warm: every passage
from the cache). Recorded: first token and total (the Answer's own timings: retrieval, prompt,
generation, relevance check) p50/p95 per arm, the per-question speed-up ratios, prompt tokens
decoded vs spliced, the share of passages a natural session would find cached (questions asked
in order, cache kept: passages an earlier question retrieved), whether the arms' answers are
identical, and the cache's size on disk (per passage, per token, per 1,000 passages projected).

``--mode quality``: eval items (``--corpus``, ``--ids``) asked through both engines (and, with
``--recompute N``, spliced with each passage's first N tokens re-decoded: EPIC): refusal
decision, expected facts present, raw answers identical.

    .venv/bin/python bench/kv_cache.py --mode session [--questions 10]
        →  bench/results/kv_cache.json
    .venv/bin/python bench/kv_cache.py --mode quality --corpus articles --ids a001,a002 \\
        --recompute 4 --out bench/results/kv_cache_quality.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, eval_items, machine, percentiles, write_json

from askai.answer import prompt_parts
from askai.engine import Engine
from askai.eval.dataset import load_items
from askai.eval.metrics import contains_facts
from askai.llm.llamacpp import LlamaCppLLM
from askai.settings import Settings

WARMUP_QUESTION = "What is the AI Plus plan?"
SETS = {"articles": (ROOT / "eval" / "questions.jsonl", ROOT / "ingest" / "corpus"),
        "python-doc": (ROOT / "eval" / "sets" / "python-doc.jsonl", None)}


def engines(index: Path, documents: Path | None, cache: Path) -> tuple[Engine, Engine]:
    """(sequential, spliced) engines over one index (ingested from ``documents`` if empty)."""
    base = Settings(store={"path": str(index)},
                    llm={"passage_cache": True, "passage_cache_dir": str(cache)})
    llm = LlamaCppLLM.from_settings(base.llm)
    spliced = Engine(base, llm=llm)
    if not spliced.documents():
        if documents is None:
            raise SystemExit(f"{index} is empty; give --documents to ingest")
        spliced.ingest([documents], progress=False)
    off = base.model_copy(update={"llm": base.llm.model_copy(update={"passage_cache": False})})
    sequential = Engine(off, embedder=spliced.embedder, store=spliced.store, llm=llm)
    return sequential, spliced


def ask(engine: Engine, question: str) -> dict[str, Any]:
    answer = engine.ask(question)
    kv = engine.llm.passage_context() if engine.settings.llm.passage_cache else None  # type: ignore[attr-defined]
    return {
        "raw": answer.raw_text, "text": answer.text, "refused": answer.refused,
        "first_token_s": round(answer.timings.get("first_token_s", 0.0), 3),
        "total_s": round(answer.timings["total_s"], 3),
        "passages": len(answer.passages),
        "cache": kv.stats.as_dict() if kv is not None else None,
    }


def session(args: argparse.Namespace) -> dict[str, Any]:
    items = [i for i in eval_items() if i["kind"] == "answerable" and not i.get(
        "history_question") and any(e["doc"] == args.document for e in i.get("evidence", []))]
    questions = [i["question"] for i in items[: args.questions]]
    cache = Path(tempfile.mkdtemp(prefix="askai-kv-"))
    sequential, spliced = engines(Path(args.index), ROOT / "ingest", cache)
    kv_llm = spliced.llm
    t0 = time.perf_counter()
    sequential.ask(WARMUP_QUESTION)
    spliced.ask(WARMUP_QUESTION)
    warmup_s = time.perf_counter() - t0
    store = kv_llm.passage_context().store  # type: ignore[attr-defined]
    # the share of passages an ordinary session (questions in order, cache kept) finds cached:
    # passages whose text an earlier question already brought
    seen: set[str] = set()
    hits = total_passages = 0
    for q in questions:
        for text in prompt_parts(q, spliced.retrieve(q)).sources:
            hits += text in seen
            total_passages += 1
            seen.add(text)
    rows = []
    for n, q in enumerate(questions):
        arms = ["sequential", "cold+warm"]
        if n % 2:
            arms.reverse()
        row: dict[str, Any] = {"question": q}
        for arm in arms:
            if arm == "sequential":
                row["sequential"] = ask(sequential, q)
            else:
                store.clear()
                row["cold"] = ask(spliced, q)
                row["warm"] = ask(spliced, q)
        rows.append(row)
        print(json.dumps({k: (v if k == "question" else {x: v[x] for x in (
            "first_token_s", "total_s", "refused")}) for k, v in row.items()}), flush=True)
    # the folder holds the last question's passages (the cache was emptied before its cold arm)
    sizes = [p.stat().st_size for p in store.folder.glob("*.kv")]
    per_token = sum(sizes) / rows[-1]["warm"]["cache"]["spliced_tokens"] if sizes else 0.0
    warm_passages = sum(r["warm"]["cache"]["memory_hits"] + r["warm"]["cache"]["disk_hits"]
                        for r in rows)
    tokens_per_passage = sum(r["warm"]["cache"]["spliced_tokens"] for r in rows) / max(
        1, warm_passages)

    def arm(name: str, key: str) -> dict[str, float]:
        return percentiles([r[name][key] for r in rows])

    def ratio(a: str, b: str, key: str) -> dict[str, float]:
        return percentiles([r[a][key] / r[b][key] for r in rows if r[b][key] > 0])

    return {
        "machine": machine(), "document": args.document, "questions": questions,
        "warmup_s": round(warmup_s, 1),
        "first_token_s": {a: arm(a, "first_token_s") for a in ("sequential", "cold", "warm")},
        "total_s": {a: arm(a, "total_s") for a in ("sequential", "cold", "warm")},
        "speedup_first_token": {"sequential/warm": ratio("sequential", "warm", "first_token_s"),
                                "sequential/cold": ratio("sequential", "cold", "first_token_s")},
        "speedup_total": {"sequential/warm": ratio("sequential", "warm", "total_s"),
                          "sequential/cold": ratio("sequential", "cold", "total_s")},
        "warm_prompt_tokens": {
            "decoded": percentiles([r["warm"]["cache"]["decoded_tokens"] for r in rows]),
            "spliced": percentiles([r["warm"]["cache"]["spliced_tokens"] for r in rows])},
        "natural_session_cached_share": round(hits / total_passages, 3) if total_passages else 0,
        "identical_raw_answers": {
            "sequential=warm": sum(r["sequential"]["raw"] == r["warm"]["raw"] for r in rows),
            "cold=warm": sum(r["cold"]["raw"] == r["warm"]["raw"] for r in rows),
            "of": len(rows)},
        "same_refusal_decision": sum(r["sequential"]["refused"] == r["warm"]["refused"]
                                     for r in rows),
        "disk": {"files": len(sizes), "bytes_per_token": round(per_token),
                 "tokens_per_passage": round(tokens_per_passage, 1),
                 "mb_per_passage": round(per_token * tokens_per_passage / 1e6, 2),
                 "projected_mb_per_1000_passages": round(per_token * tokens_per_passage / 1e3)},
        "rows": rows,
    }


def quality(args: argparse.Namespace) -> dict[str, Any]:
    path, documents = SETS[args.corpus]
    items = load_items(path)
    wanted = [x.strip() for x in args.ids.split(",") if x.strip()]
    items = [i for i in items if i.id in wanted]
    cache = Path(tempfile.mkdtemp(prefix="askai-kv-"))
    sequential, spliced = engines(Path(args.index), Path(args.documents) if args.documents
                                  else documents, cache)
    kv = spliced.llm.passage_context()  # type: ignore[attr-defined]
    arms = {"spliced": 0, **({f"epic{args.recompute}": args.recompute} if args.recompute else {})}
    rows = []
    for item in items:
        row: dict[str, Any] = {"id": item.id, "kind": item.kind, "category": item.category,
                               "question": item.question}
        row["sequential"] = ask(sequential, item.question)
        for name, recompute in arms.items():
            kv.recompute = recompute
            row[name] = ask(spliced, item.question)
        for name in ("sequential", *arms):
            a = row[name]
            a["facts_ok"] = bool(item.facts) and not a["refused"] and contains_facts(
                a["text"], item.facts)
            a["correct"] = a["facts_ok"] if item.answerable else a["refused"]
        rows.append(row)
        print(json.dumps({"id": item.id, **{n: {k: row[n][k] for k in ("refused", "correct")}
                                           for n in ("sequential", *arms)}}), flush=True)
    summary = {}
    for name in ("sequential", *arms):
        summary[name] = {
            "correct": sum(r[name]["correct"] for r in rows),
            "refused": sum(r[name]["refused"] for r in rows),
            "false_refusals": sum(r[name]["refused"] and r["kind"] == "answerable" for r in rows),
            "identical_raw_to_sequential": sum(r[name]["raw"] == r["sequential"]["raw"]
                                               for r in rows),
            "same_refusal_as_sequential": sum(r[name]["refused"] == r["sequential"]["refused"]
                                              for r in rows),
            "first_token_s": percentiles([r[name]["first_token_s"] for r in rows]),
        }
    return {"machine": machine(), "corpus": args.corpus, "n": len(rows), "summary": summary,
            "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["session", "quality"], default="session")
    parser.add_argument("--index", default=str(ROOT / "bench" / ".work" / "kv-articles"),
                        help="index folder (the shipped corpus is ingested into it if empty)")
    parser.add_argument("--documents", default="", help="quality: what to ingest if empty")
    parser.add_argument("--document", default="corpus/000_2f637ece668d7f50.txt")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--corpus", choices=list(SETS), default="articles")
    parser.add_argument("--ids", default="")
    parser.add_argument("--recompute", type=int, default=0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    result = session(args) if args.mode == "session" else quality(args)
    out = Path(args.out) if args.out else RESULTS / (
        "kv_cache.json" if args.mode == "session" else f"kv_cache_quality_{args.corpus}.json")
    write_json(out, result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("rows", "questions")},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
