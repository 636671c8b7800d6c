"""Prompt processing and decode speed of the installed llama.cpp build with the default model, on
this CPU (recorded with the CPU's name, its features and llama.cpp's system info, so results
from AMD and Intel machines sit side by side).

Each run evaluates a fresh ~400-token prompt (no cached prefix) and then decodes 64 tokens
greedily; medians over the runs.

    .venv/bin/python bench/llama_speed.py [--runs 5] [--threads N]
        → bench/results/llama_speed_<cpu>.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "ingest/corpus").glob("*.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--prompt-tokens", type=int, default=400)
    parser.add_argument("--decode-tokens", type=int, default=64)
    args = parser.parse_args()

    from llama_cpp import Llama

    from askai.llm import native_build
    from askai.llm.llamacpp import ensure_runnable_build, system_info
    from askai.llm.provision import DEFAULT_MODEL_NAME, assemble_default_model

    ensure_runnable_build()
    model = assemble_default_model(Path("~/.cache/askai/models").expanduser())
    llama = Llama(model_path=str(model), n_ctx=2048, n_threads=args.threads,
                  n_threads_batch=args.threads, n_batch=512, verbose=False)
    words = " ".join(p.read_text() for p in sorted(TEXT)).split()
    prompt_s, decode_tps, prompt_tps = [], [], []
    for run in range(args.runs):
        # a different window of text each run: nothing is served from a cached prefix
        start = run * 700
        tokens = llama.tokenize(" ".join(words[start:start + 600]).encode())[: args.prompt_tokens]
        llama.reset()
        t0 = time.perf_counter()
        llama.eval(tokens)
        t1 = time.perf_counter()
        out = 0
        while out < args.decode_tokens:  # greedy, one token evaluated at a time
            token = llama.sample(top_k=1, temp=0.0)
            llama.eval([token])
            out += 1
        t2 = time.perf_counter()
        prompt_s.append(t1 - t0)
        prompt_tps.append(len(tokens) / (t1 - t0))
        decode_tps.append(out / (t2 - t1))
    cpu = native_build.cpu_model()
    flags = native_build.cpu_flags()
    result = {
        "cpu": cpu,
        "cpu_features": sorted(f for f in flags if re.match(r"avx|amx|fma|f16c|bmi2", f)),
        "llama_cpp_system_info": system_info().strip(),
        "model": DEFAULT_MODEL_NAME, "threads": args.threads, "runs": args.runs,
        "prompt_tokens": args.prompt_tokens, "decode_tokens": args.decode_tokens,
        "prompt_tokens_per_s_median": round(statistics.median(prompt_tps), 1),
        "prompt_s_median": round(statistics.median(prompt_s), 2),
        "decode_tokens_per_s_median": round(statistics.median(decode_tps), 1),
        "prompt_tokens_per_s": [round(x, 1) for x in prompt_tps],
        "decode_tokens_per_s": [round(x, 1) for x in decode_tps],
    }
    kind = "intel" if "intel" in cpu.lower() else "amd" if "amd" in cpu.lower() else "other"
    out_path = ROOT / "bench/results" / f"llama_speed_{kind}.json"
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
