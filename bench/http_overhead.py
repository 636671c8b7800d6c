"""What the HTTP layer adds to an answer: ``engine.ask()`` in-process versus the same question
through a real ``askai serve`` process (the official openai client, non-streaming and streaming,
and ``POST /v1/ask``).

The model is taken out of the measurement: both sides use the same scripted OpenAI-compatible
LLM server (tests/servers.py, on loopback; it streams a fixed 14-word reply with its relevance
check), so the answers take the same path through retrieval, verification and the relevance
check, and the difference is the HTTP layer: request parsing, the model slot, a worker-thread
hop per token, JSON and SSE. The index is the three small documents of tests/conftest.py. Runs
alternate between the four ways so drift in the machine's load hits all alike; the medians of
``--runs`` runs each are reported.

    .venv/bin/python bench/http_overhead.py [--runs 30]   →  bench/results/http_overhead.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, machine, percentiles, write_json

sys.path.insert(0, str(ROOT))

QUESTION = "When was the Harrowgate lighthouse built?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    import httpx
    import openai

    from askai.engine import build_engine
    from askai.settings import load_settings
    from tests.conftest import write_docs
    from tests.servers import DOCS_SCRIPT, ScriptedLLMServer, askai_env, free_port, serve

    with tempfile.TemporaryDirectory(prefix="askai-bench-") as tmp, \
            ScriptedLLMServer(DOCS_SCRIPT).running() as llm:
        home = Path(tmp)
        docs = write_docs(home / "docs")
        engine = build_engine(load_settings(
            store={"path": str(home / "chroma")},
            llm={"backend": "openai", "base_url": llm.base_url, "model": "scripted"},
        ))
        engine.ingest([docs], progress=False)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "askai", "serve", "--port", str(port)]
        with serve(cmd, f"{url}/healthz", home / "serve.log", 180, env=askai_env(home, llm)):
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            http = httpx.Client(timeout=120)
            messages = [{"role": "user", "content": QUESTION}]

            def direct() -> str:
                return engine.ask(QUESTION).text

            def chat() -> str:
                return client.chat.completions.create(model="askai", messages=messages) \
                    .choices[0].message.content

            def chat_stream() -> str:
                chunks = client.chat.completions.create(model="askai", messages=messages,
                                                        stream=True)
                return "".join(c.choices[0].delta.content or "" for c in chunks)

            def ask_json() -> str:
                return http.post(f"{url}/v1/ask", json={"question": QUESTION}).json()["text"]

            ways = {"ask() in-process": direct, "chat completions": chat,
                    "chat completions, streamed": chat_stream, "POST /v1/ask": ask_json}
            expected = direct()
            assert "[1]" in expected, expected
            for way in ways.values():  # warm every path once, untimed
                assert way() == expected
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.runs):
                for name, way in ways.items():
                    t0 = time.perf_counter()
                    text = way()
                    times[name].append(time.perf_counter() - t0)
                    assert text == expected, (name, text)
    base = statistics.median(times["ask() in-process"])
    results: dict[str, Any] = {
        name: {**percentiles(values, scale=1000, digits=1),
               "overhead_ms_median": round((statistics.median(values) - base) * 1000, 1)}
        for name, values in times.items()
    }
    out = {"runs": args.runs, "unit": "ms", "question": QUESTION, "results": results,
           "machine": machine(),
           "note": "2 shared CPU cores; other work ran at the same time, so the times are "
                   "contaminated by it: compare medians, not single runs"}
    write_json(RESULTS / "http_overhead.json", out)
    print(f"{'way':30} {'p50 ms':>8} {'p95 ms':>8} {'overhead (p50) ms':>18}")
    for name, r in results.items():
        print(f"{name:30} {r['p50']:8.1f} {r['p95']:8.1f} {r['overhead_ms_median']:18.1f}")


if __name__ == "__main__":
    main()
