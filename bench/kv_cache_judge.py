"""The relevance judge over the passage KV cache (issue #15): judge time sequential vs spliced.

One llama.cpp model with a passage cache (in a temporary folder) over the shipped corpus's index.
For ``--questions`` eval/questions.jsonl questions (answerable ones spread through the file, and
a few unanswerable), the judge is shown the top ``--cited`` retrieved passages, framed as the
engine frames cited passages (no answer is generated: the judge's input is what is measured).
Each question is judged four ways, interleaved, the order rotating per question:

- ``sequential``: today's judge (question first, ``relevance_messages``; the calibrated prompt),
  processed whole in the judge's own context;
- ``whole``: the passages-first prompt (``judge_parts(...).messages()``) processed whole in the
  same context (what the cache changes about the prompt, without the cache);
- ``cold``: the passages-first prompt spliced with the cache emptied first (every passage
  computed and stored);
- ``warm``: spliced again (every passage from the cache: only the question is decoded).

Both judge contexts are warmed with an untimed judgement first (their system prompt stays
cached, as in a running app). Recorded per arm: time p50/p95, per-question ratios, the
probability and the decision at ``retrieval.min_relevance``, tokens decoded vs spliced.

    .venv/bin/python bench/kv_cache_judge.py [--questions 10]  →  bench/results/kv_cache_judge.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, eval_items, machine, percentiles, spread, write_json

from askai.answer import framed, judge_parts, relevance_messages
from askai.engine import Engine
from askai.llm.llamacpp import LlamaCppLLM
from askai.settings import Settings

ARMS = ("sequential", "whole", "cold", "warm")


def judge(llm: LlamaCppLLM, arm: str, question: str, cited: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    if arm == "sequential":
        p = llm.yes_probability(relevance_messages(question, cited))
    elif arm == "whole":
        p = llm.yes_probability(judge_parts(question, cited).messages())
    else:
        if arm == "cold":
            llm.judge_passage_context().store.clear()
        p = llm.yes_probability_passages(judge_parts(question, cited))
    out: dict[str, Any] = {"s": round(time.perf_counter() - t0, 3), "p": round(p, 4)}
    if arm in ("cold", "warm"):
        out["cache"] = llm.judge_passage_context().stats.as_dict()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=str(ROOT / "bench" / ".work" / "kv-judge-articles"),
                        help="index folder (the shipped corpus is ingested into it if empty)")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--unanswerable", type=int, default=3,
                        help="of the questions, how many are unanswerable ones")
    parser.add_argument("--cited", type=int, default=3, help="passages shown to the judge")
    parser.add_argument("--out", default=str(RESULTS / "kv_cache_judge.json"))
    args = parser.parse_args()

    items = [i for i in eval_items() if not i.get("history_question")]
    answerable = [i for i in items if i["kind"] == "answerable"]
    unanswerable = [i for i in items if i["kind"] != "answerable"]
    chosen = spread(answerable, args.questions - args.unanswerable) + spread(
        unanswerable, args.unanswerable)
    cache = Path(tempfile.mkdtemp(prefix="askai-kv-judge-"))
    settings = Settings(store={"path": args.index},
                        llm={"passage_cache": True, "passage_cache_dir": str(cache)})
    llm = LlamaCppLLM.from_settings(settings.llm)
    engine = Engine(settings, llm=llm)
    if not engine.documents():
        engine.ingest([ROOT / "ingest"], progress=False)
    limit = settings.retrieval.min_relevance

    t0 = time.perf_counter()
    warm_q = "What is the AI Plus plan?"
    warm_cited = [framed(p.text, p.section) for p in engine.retrieve(warm_q)[: args.cited]]
    llm.yes_probability(relevance_messages(warm_q, warm_cited))
    llm.yes_probability_passages(judge_parts(warm_q, warm_cited))
    warmup_s = time.perf_counter() - t0

    rows = []
    for n, item in enumerate(chosen):
        q = item["question"]
        cited = [framed(p.text, p.section) for p in engine.retrieve(q)[: args.cited]]
        plain, spliced = ["sequential", "whole"], ["cold", "warm"]  # cold right before warm
        if n % 4 >= 2:
            plain.reverse()
        order = spliced + plain if n % 2 else plain + spliced
        row: dict[str, Any] = {"id": item["id"], "kind": item["kind"], "question": q,
                               "cited": len(cited)}
        for arm in order:
            row[arm] = judge(llm, arm, q, cited)
        for arm in ARMS:
            row[arm]["yes"] = row[arm]["p"] >= limit
        rows.append(row)
        print(json.dumps({"id": row["id"], **{a: (row[a]["s"], row[a]["p"]) for a in ARMS}}),
              flush=True)

    def ratio(a: str, b: str) -> dict[str, float]:
        return percentiles([r[a]["s"] / r[b]["s"] for r in rows if r[b]["s"] > 0])

    result = {
        "machine": machine(),
        "note": "niced (nice 19) on 2 cores shared with other jobs: absolute times are "
                "contaminated; the per-question ratios, measured within one run, are what counts",
        "questions": len(rows), "cited_per_question": args.cited, "min_relevance": limit,
        "warmup_s": round(warmup_s, 1),
        "judge_s": {a: percentiles([r[a]["s"] for r in rows]) for a in ARMS},
        "speedup": {"sequential/warm": ratio("sequential", "warm"),
                    "sequential/cold": ratio("sequential", "cold"),
                    "whole/warm": ratio("whole", "warm")},
        "warm_tokens": {
            "decoded": percentiles([r["warm"]["cache"]["decoded_tokens"] for r in rows]),
            "spliced": percentiles([r["warm"]["cache"]["spliced_tokens"] for r in rows])},
        "same_decision_as_sequential": {a: sum(r[a]["yes"] == r["sequential"]["yes"]
                                               for r in rows) for a in ARMS[1:]},
        "abs_p_difference": {
            "warm-sequential": percentiles([abs(r["warm"]["p"] - r["sequential"]["p"])
                                            for r in rows], digits=3),
            "warm-whole": percentiles([abs(r["warm"]["p"] - r["whole"]["p"]) for r in rows],
                                      digits=3),
            "warm-cold": percentiles([abs(r["warm"]["p"] - r["cold"]["p"]) for r in rows],
                                     digits=4)},
        "rows": rows,
    }
    write_json(Path(args.out), result)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
