"""Five readers at once: start the real page (temp index of ingest/corpus), send five questions
concurrently through gradio_client, and record who waited, for how long, and what they got.

    .venv/bin/python bench/ui_concurrency.py [--sessions 5]   →  bench/results/ui_concurrency.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    ("Which Chinese firms are pioneering chiplet technology?", "Biren"),
    ("How many registered generative AI models does Beijing have?", "219"),
    ("What is Sinong?", "agricultur"),
    ("What is Baidu's conversational AI service called?", "Ernie"),
    ("How large is the Chinese healthcare AI market?", "106"),
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=5)
    args = parser.parse_args()
    from gradio_client import Client
    from gradio_client.utils import Status

    home = Path(tempfile.mkdtemp(prefix="askai-bench-"))
    env = {**os.environ, "ASKAI_STORE__PATH": str(home / "chroma"), "HF_HUB_OFFLINE": "1",
           "ASKAI_UI__UPLOAD_DIR": str(home / "uploads"), "GRADIO_ANALYTICS_ENABLED": "False"}
    subprocess.run([sys.executable, "-m", "askai", "ingest", str(ROOT / "ingest"), "--quiet"],
                   env=env, check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "askai", "ui", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(1)
        Client(url, verbose=False).predict("What is the AI Plus plan?", api_name="/ask")  # warm
        results: list[dict] = [{} for _ in range(args.sessions)]
        barrier = threading.Barrier(args.sessions)

        def reader(i: int) -> None:
            question, expected = QUESTIONS[i % len(QUESTIONS)]
            client = Client(url, verbose=False)
            barrier.wait()
            t0 = time.perf_counter()
            job = client.submit(question, api_name="/ask")
            ranks, started = [], None
            while not job.done():
                st = job.status()
                if st.code == Status.IN_QUEUE and st.rank is not None:
                    ranks.append(st.rank)
                if st.code in (Status.PROCESSING, Status.ITERATING) and started is None:
                    started = time.perf_counter() - t0
                time.sleep(0.05)
            answer = job.result()
            total = time.perf_counter() - t0
            results[i] = {
                "question": question, "max_queue_rank_seen": max(ranks) if ranks else 0,
                "saw_waiting": bool(ranks), "wait_s": round(started or 0.0, 2),
                "total_s": round(total, 2), "answered": not answer["refused"],
                "correct": expected.lower() in answer["text"].lower(),
                "server_total_s": round(answer["timings"]["total_s"], 2),
            }

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(args.sessions)]
        wall = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
    finally:
        server.terminate()
        server.wait(timeout=30)
    totals = [r["total_s"] for r in results]
    summary = {
        "sessions": args.sessions, "wall_s": round(wall, 2),
        "all_answered": all(r["answered"] for r in results),
        "all_correct": all(r["correct"] for r in results),
        "median_total_s": round(statistics.median(totals), 2), "max_total_s": max(totals),
        "median_server_answer_s": round(statistics.median(r["server_total_s"] for r in results), 2),
        "saw_waiting": sum(r["saw_waiting"] for r in results),
        "sessions_detail": sorted(results, key=lambda r: r["total_s"]),
    }
    out = ROOT / "bench" / "results" / "ui_concurrency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "sessions_detail"}, indent=2))
    return 0 if summary["all_answered"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
