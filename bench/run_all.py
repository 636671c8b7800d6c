"""Run every benchmark at full size, one after another (never in parallel: on a small machine they
would skew each other's timings), and record which ran, how long each took and its exit code.

    .venv/bin/python bench/run_all.py [--only ingest-shipped,retrieval] [--dry-run]
        →  each script's own results under bench/results/, plus bench/results/run_all.json
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime

from benchlib import RESULTS, ROOT, write_json

BENCHMARKS: dict[str, list[str]] = {
    "ingest-shipped": ["bench/ingest_throughput.py", "--corpus", "shipped"],
    # 40 of the 526 python-doc pages keep this near 5 minutes; drop --limit-files for all of them
    "ingest-python-doc": ["bench/ingest_throughput.py", "--corpus", "python-doc",
                          "--limit-files", "40"],
    # a 19 MB file with no line break (it once took 15 minutes and 3.1 GB): time and peak RSS
    "long-line": ["bench/long_line.py", "--sizes", "19"],
    # whole-ingest speed per format (Word, PowerPoint, Excel, CSV, EPUB, PDF, a scanned PDF)
    "formats": ["bench/formats_speed.py", "--pages", "20", "--scanned-pages", "2"],
    "retrieval": ["bench/retrieval_latency.py", "--sizes", "1000,10000",
                  "--backends", "chroma,chroma-http", "--questions", "50"],
    # filling the store to 100k chunks takes about 15 minutes on 2 cores, once: the filled index
    # is kept (bench/.work/index-100k) and the Chroma server serves a copy of it
    "retrieval-100k": ["bench/retrieval_latency.py", "--sizes", "100000",
                       "--backends", "chroma,chroma-http", "--keep-store", "bench/.work/index-100k",
                       "--questions", "50", "--out", "bench/results/retrieval_latency_100k.json"],
    "answers": ["bench/answer_concurrency.py", "--questions", "8", "--levels", "1,2,4"],
    # passage KV cache: 10 questions about one article, sequential vs spliced cold vs warm
    "kv-cache": ["bench/kv_cache.py", "--mode", "session", "--questions", "10"],
    "ui": ["bench/ui_concurrency.py", "--sessions", "5"],
    # two writers killed (SIGKILL) 100 times while the page asks and deletes (CI runs 20 cycles)
    "store-chaos": ["bench/store_chaos.py", "--docs", "12", "--cycles", "100"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma list of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--stop-on-failure", action="store_true")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; valid: {', '.join(BENCHMARKS)}")

    runs = []
    for name in names:
        cmd = [sys.executable, *BENCHMARKS[name]]
        print(f"== {name}: {shlex.join(cmd)}", flush=True)
        if args.dry_run:
            continue
        started = datetime.now(UTC).isoformat(timespec="seconds")
        t0 = time.perf_counter()
        code = subprocess.run(cmd, cwd=ROOT).returncode
        runs.append({"name": name, "command": shlex.join(cmd), "started": started,
                     "seconds": round(time.perf_counter() - t0, 1), "exit_code": code})
        print(f"== {name}: exit {code} after {runs[-1]['seconds']} s", flush=True)
        if code and args.stop_on_failure:
            break
    if not args.dry_run:
        write_json(RESULTS / "run_all.json", {"benchmark": "run_all", "runs": runs})
    return 1 if any(r["exit_code"] for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
