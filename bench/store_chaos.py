"""The store under chaos, at a larger size than CI's: two writer processes ingesting (and
re-ingesting changed files) killed with SIGKILL at random moments, a page process asking questions
and deleting documents in parallel; afterwards every document must be complete or absent, a
re-ingest completes them, no question errored, the store opens cleanly (tests/chaos.py).

    .venv/bin/python bench/store_chaos.py [--docs 12] [--cycles 100]
        →  bench/results/store_chaos.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchlib import RESULTS, ROOT, write_json

sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.chaos import run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "store_chaos.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="askai-chaos-") as tmp:
        result = run(Path(tmp), docs=args.docs, cycles=args.cycles, seed=args.seed)
    data = {"benchmark": "store_chaos", "docs": args.docs, **result.to_dict()}
    write_json(Path(args.out), data)
    print(data)
    ok = (result.page.get("errors") == 0 and result.writer_crashes == 0
          and result.before_reingest["broken"] == 0 and result.reingest_ok
          and result.after_reingest["absent"] == result.after_reingest["broken"] == 0
          and result.after_reingest["pending"] == 0 and result.found_after == args.docs)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
