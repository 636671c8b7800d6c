"""Time to first token and decode speed of the default model on askai's real prompts, with and
without prompt-lookup decoding (``ASKAI_LLM__DRAFT_TOKENS``), and for evidence budgets.

For each eval question the real prompt is built (hybrid retrieval → evidence passages → the
system prompt + sources + question) and generated greedily; the settings are interleaved per
question so machine noise hits them alike. Records prompt tokens, time to first token, generated
tokens and decode tokens/s (tokens after the first ÷ time after the first).

    .venv/bin/python bench/decode_speed.py [--questions 20] [--drafts 0,4,10]
        [--evidence-chars 1800]   →  bench/results/decode_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--drafts", default="0,4,10", help="draft token counts to compare")
    parser.add_argument("--evidence-chars", default="1800", help="evidence budgets to compare")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/decode_speed.json")
    args = parser.parse_args()

    from askai.answer import build_messages
    from askai.engine import Engine
    from askai.llm.llamacpp import LlamaCppLLM
    from askai.llm.provision import resolve_model_path
    from askai.settings import Settings

    items = [json.loads(line) for line in (ROOT / "eval/questions.jsonl").open()]
    questions = [i["question"] for i in items if i.get("facts") and not i.get("history")]
    questions = questions[: args.questions]
    drafts = [int(x) for x in args.drafts.split(",")]
    budgets = [int(x) for x in args.evidence_chars.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store={"path": str(Path(tmp) / "chroma")})  # type: ignore[arg-type]
        engine = Engine(settings)
        engine.ingest([ROOT / "ingest"], progress=False)
        path = resolve_model_path(settings.llm.model_path, settings.llm.cache_dir)
        llms = {
            d: LlamaCppLLM(path, n_ctx=settings.llm.n_ctx, n_threads=settings.llm.n_threads,
                           draft_tokens=d)
            for d in drafts
        }
        runs: list[dict[str, object]] = []
        for llm in llms.values():  # warm the cached system-prompt prefix
            list(llm.stream(build_messages("warm up", engine.retrieve("chips")), max_tokens=4))
        for n, question in enumerate(questions, start=1):
            for budget in budgets:
                settings.retrieval.max_evidence_chars = budget
                passages = engine.retrieve(question)
                messages = build_messages(question, passages)
                prompt_tokens = llms[drafts[0]].count_tokens(
                    "".join(m["content"] for m in messages)
                )
                for draft in drafts if n % 2 else list(reversed(drafts)):
                    t0 = time.perf_counter()
                    first = None
                    pieces = []
                    for piece in llms[draft].stream(
                        messages, max_tokens=settings.llm.max_tokens
                    ):
                        first = first or time.perf_counter() - t0
                        pieces.append(piece)
                    total = time.perf_counter() - t0
                    text = "".join(pieces)
                    generated = llms[draft].count_tokens(text)
                    runs.append({
                        "question": question, "draft_tokens": draft, "evidence_chars": budget,
                        "prompt_tokens": prompt_tokens, "first_token_s": round(first or 0, 3),
                        "total_s": round(total, 3), "generated_tokens": generated,
                        "decode_tok_s": round((generated - 1) / (total - first), 2)
                        if first and generated > 1 and total > first else None,
                        "text": text,
                    })
            print(f"{n}/{len(questions)}", file=sys.stderr)

    summary = []
    for budget in budgets:
        for draft in drafts:
            mine = [r for r in runs if r["draft_tokens"] == draft and r["evidence_chars"] == budget]
            decode = [r["decode_tok_s"] for r in mine if r["decode_tok_s"]]
            summary.append({
                "draft_tokens": draft, "evidence_chars": budget, "runs": len(mine),
                "prompt_tokens_p50": statistics.median(r["prompt_tokens"] for r in mine),
                "first_token_s_p50": round(statistics.median(r["first_token_s"] for r in mine), 3),
                "total_s_p50": round(statistics.median(r["total_s"] for r in mine), 3),
                "decode_tok_s_p50": round(statistics.median(decode), 2) if decode else None,
                "generated_tokens_p50": statistics.median(r["generated_tokens"] for r in mine),
            })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "model": path.name, "threads": settings.llm.n_threads, "summary": summary, "runs": runs,
    }, indent=1, ensure_ascii=False) + "\n")
    for row in summary:
        print(row)


if __name__ == "__main__":
    main()
