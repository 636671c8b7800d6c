"""A file with no line breaks: ingest time and peak memory against its size.

A 19 MB file with no line break once took over 15 minutes and 3.1 GB: the splitter tokenized and
sentence-split it whole, and all of its vectors were embedded and written at once. Each size here
is a generated one-line text (sentences of made-up words and numbers, seeded, no ``\\n``) that a
child process ingests into a fresh embedded Chroma store (the real MiniLM embedder); recorded per
size: wall seconds, the child's CPU seconds (user + system; on a shared machine the steadier
measure), chunks, and the child's peak RSS (``ru_maxrss`` of RUSAGE_CHILDREN, read after each
child, and the child's own), and the child's resident memory over time.

    .venv/bin/python bench/long_line.py [--sizes 2,5,10,19]
        →  bench/results/long_line.json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import RESULTS, ROOT, write_json

WORDS = ("quokka island grass night leaves tourist photo smile harbour ferry lighthouse keeper "
         "lamp engineer bakery rye oven frog rainforest skin belly chip export research "
         "design memory cache thread kernel module version release").split()

CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from askai.engine import Engine
from askai.settings import Settings
engine = Engine(Settings(store={"path": tempfile.mkdtemp()},
                         ingest={"max_file_mb": 100}))
engine.embedder.embed_documents(["warm up"])
t0 = time.perf_counter()
report = engine.ingest([Path(sys.argv[1])], progress=False)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "documents": report.documents, "chunks": report.chunks,
                  "failed": [f.reason for f in report.failed],
                  "own_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def one_line_text(megabytes: float, seed: int = 0) -> str:
    """About ``megabytes`` MB of sentences (5 to 25 words, some numbers) with no line break."""
    rng = random.Random(seed)
    out: list[str] = []
    size, i = 0, 0
    target = int(megabytes * 1_000_000)
    while size < target:
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 25))]
        words.insert(rng.randrange(len(words)), str(i))
        sentence = " ".join(words).capitalize() + ". "
        out.append(sentence)
        size += len(sentence)
        i += 1
    return "".join(out)[:target]


TIMELINE_STEP = 1.0


def resident_timeline(child: subprocess.Popen) -> list[int]:
    """The child's resident memory (MB, from /proc) every TIMELINE_STEP seconds until it ends."""
    samples: list[int] = []
    while child.poll() is None:
        try:
            with open(f"/proc/{child.pid}/statm") as statm:
                samples.append(int(statm.read().split()[1]) * 4096 // 2**20)
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(TIMELINE_STEP)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="19", help="comma list of sizes in MB")
    parser.add_argument("--out", default=str(RESULTS / "long_line.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mb in (float(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"one-line-{mb:g}mb.txt"
            path.write_text(one_line_text(mb), encoding="utf-8")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            # output to files, not pipes: nothing reads a pipe while the timeline is sampled
            with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
                child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT,
                                         stdout=out, stderr=err, text=True)
                timeline = resident_timeline(child)
                child.wait()
                out.seek(0)
                err.seek(0)
                done = subprocess.CompletedProcess(child.args, child.returncode, out.read(),
                                                   err.read())
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            child = json.loads(done.stdout.strip().splitlines()[-1])
            row = {
                "megabytes": mb, "bytes": path.stat().st_size, "line_breaks": 0,
                "ingest_seconds": round(child["seconds"], 1), "process_seconds": round(wall, 1),
                "cpu_seconds": round(after.ru_utime + after.ru_stime
                                     - before.ru_utime - before.ru_stime, 1),
                "chunks": child["chunks"], "failed": child["failed"],
                "peak_rss_mb": round(after.ru_maxrss / 1024),
                "child_peak_rss_mb": round(child["own_maxrss_mb"]),
                # the child's resident MB every TIMELINE_STEP s (where in the ingest memory goes)
                "rss_timeline_mb": timeline[::max(1, len(timeline) // 60)],
                "timeline_step_s": TIMELINE_STEP * max(1, len(timeline) // 60),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            write_json(Path(args.out), {"benchmark": "long_line", "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
