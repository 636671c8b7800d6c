"""Answer latency under concurrency: 1, 2, 4 askers sharing one engine.

One ``Engine`` (temp store holding the shipped corpus, ingest/) and one default llama.cpp model,
loaded once (load time recorded) and warmed with one untimed answer. For each level ``c`` the same
answerable eval questions (two-turn items left out: they need a history) go into a queue; ``c``
threads start together at a barrier and each takes the next question and calls
``engine.ask(question)`` until the queue is empty. The model holds a lock per generation, so
concurrent answers queue for it: time to first token and total latency grow with ``c`` while
throughput (answers per minute of wall time) shows what concurrency buys.

Recorded per level: p50/p95 of the client-side latency (ask() call to return) and of the
Answer's own timings (``total_s``, ``first_token_s``, ``retrieve_s``; measured from the start of
the answer's run, so they include the wait for the model), throughput, wall time, refusals.

    .venv/bin/python bench/answer_concurrency.py [--questions 8] [--levels 1,2,4]
        →  bench/results/answer_concurrency.json and .png
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, eval_items, machine, percentiles, pyplot, spread, write_json

WARMUP_QUESTION = "What is the AI Plus plan?"


def run_level(engine: Any, questions: list[str], level: int) -> dict[str, Any]:
    todo: queue.Queue[str] = queue.Queue()
    for q in questions:
        todo.put(q)
    done: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(level + 1)

    def asker(n: int) -> None:
        barrier.wait()
        while True:
            try:
                question = todo.get_nowait()
            except queue.Empty:
                return
            t0 = time.perf_counter()
            try:
                answer = engine.ask(question)
            except Exception as exc:  # noqa: BLE001 - recorded, the level goes on
                with lock:
                    errors.append(f"{question}: {type(exc).__name__}: {exc}")
                continue
            latency = time.perf_counter() - t0
            with lock:
                done.append({
                    "asker": n, "question": question, "client_s": round(latency, 3),
                    "refused": answer.refused,
                    **{k: round(v, 3) for k, v in answer.timings.items()},
                })

    threads = [threading.Thread(target=asker, args=(n,)) for n in range(level)]
    for t in threads:
        t.start()
    barrier.wait()
    wall = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall
    generated = [r for r in done if not r["refused"]]
    return {
        "level": level, "answers": len(done), "refused": len(done) - len(generated),
        "errors": errors, "wall_s": round(wall, 2),
        "answers_per_minute": round(len(done) / wall * 60, 2) if wall else None,
        "client_s": percentiles([r["client_s"] for r in done]),
        "total_s": percentiles([r["total_s"] for r in done]),
        # refusals before generation report 0.0 for the first token: left out
        "first_token_s": percentiles([r["first_token_s"] for r in generated]),
        "retrieve_s": percentiles([r["retrieve_s"] for r in done], digits=3),
        "detail": sorted(done, key=lambda r: r["client_s"]),
    }


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    levels = result["levels"]
    x = [lv["level"] for lv in levels]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for key, color, label in (("client_s", "tab:blue", "total latency"),
                              ("first_token_s", "tab:orange", "time to first token")):
        ax1.plot(x, [lv[key].get("p50") for lv in levels], "o-", color=color,
                 label=f"{label} p50")
        ax1.plot(x, [lv[key].get("p95") for lv in levels], "s--", color=color,
                 label=f"{label} p95")
    ax1.set_xlabel("concurrent askers")
    ax1.set_ylabel("seconds")
    ax1.set_xticks(x)
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    ax1.set_title("latency per answer")
    bars = ax2.bar([str(v) for v in x], [lv["answers_per_minute"] for lv in levels],
                   color="tab:green")
    ax2.bar_label(bars, fmt="%.2f", fontsize=8)
    ax2.set_xlabel("concurrent askers")
    ax2.set_ylabel("answers / minute")
    ax2.set_title("throughput")
    ax2.margins(y=0.15)
    fig.suptitle(f"askai answers with concurrent askers, one engine ({result['model']}, "
                 f"{result['questions']} questions per level)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=8, help="answerable questions per level")
    parser.add_argument("--levels", default="1,2,4", help="numbers of concurrent askers")
    parser.add_argument("--out", type=Path, default=RESULTS / "answer_concurrency.json")
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",") if v.strip()]
    if not levels or min(levels) < 1:
        parser.error("--levels takes positive integers, e.g. 1,2,4")

    from askai.engine import Engine
    from askai.settings import Settings

    host = machine()
    items = [it for it in eval_items()
             if it["kind"] == "answerable" and not it.get("history_question")]
    # distinct questions per level: a repeated prompt would be answered from llama.cpp's
    # prompt cache and make the later levels look faster than they are
    pool = [it["question"] for it in spread(items, args.questions * len(levels))]
    per_level = {lv: pool[i :: len(levels)] for i, lv in enumerate(levels)}
    tmp = Path(tempfile.mkdtemp(prefix="askai-bench-answers-"))
    try:
        engine = Engine(Settings(store={"path": str(tmp / "chroma")}))
        t0 = time.perf_counter()
        report = engine.ingest([ROOT / "ingest"], progress=False)
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        llm = engine.llm
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        engine.ask(WARMUP_QUESTION)
        warmup_s = time.perf_counter() - t0
        print(f"ingested {report.documents} documents ({report.chunks} chunks) in "
              f"{ingest_s:.1f} s; model loaded in {load_s:.1f} s; warm-up answer "
              f"{warmup_s:.1f} s", flush=True)
        runs = []
        for level in levels:
            run = run_level(engine, per_level[level], level)
            runs.append(run)
            print(f"level {level}: wall {run['wall_s']} s, {run['answers_per_minute']} "
                  f"answers/min, total p50 {run['client_s'].get('p50')} s, first token p50 "
                  f"{run['first_token_s'].get('p50')} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    s = engine.settings.llm
    result = {
        "benchmark": "answer_concurrency",
        "method": (
            "One Engine (temp store of ingest/) and one llama.cpp model loaded once and warmed "
            "with one untimed answer. Per level c: c threads released together by a barrier "
            "take answerable eval questions (different ones per level) from a shared queue and "
            "call engine.ask(q) until it is empty. client_s = wall time of the ask() call; "
            "total_s / first_token_s / "
            "retrieve_s = the Answer's timings (they include waiting for the model's lock). "
            "first_token_s percentiles leave out refusals (no generation). Throughput = answers "
            "/ wall minutes of the level. Single run per level."
        ),
        "model": getattr(llm, "name", s.backend), "llm_backend": s.backend,
        "embedder": engine.embedder.name,
        "embedder_backend": getattr(engine.settings.embedder, "backend", "torch"),
        "n_threads": s.n_threads, "n_ctx": s.n_ctx, "max_tokens": s.max_tokens,
        "questions": args.questions, "question_list": per_level,
        "ingest_s": round(ingest_s, 2), "model_load_s": round(load_s, 2),
        "warmup_answer_s": round(warmup_s, 2), "machine": host, "levels": runs,
    }
    write_json(args.out, result)
    plot(result, args.out.with_suffix(".png"))
    print(json.dumps([{k: v for k, v in r.items() if k != "detail"} for r in runs], indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0 if all(not r["errors"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
