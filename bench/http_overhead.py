"""What the HTTP layer adds to an answer: ``engine.ask()`` in-process versus the same question
through a real ``askai serve`` process (the official openai client, non-streaming and streaming,
and ``POST /v1/ask``).

The model is taken out of the measurement: both sides use the same scripted OpenAI-compatible
LLM server (tests/servers.py, in a process of its own on loopback; it streams a fixed 14-word
reply and answers the relevance check), so the answers take the same path through retrieval,
verification and the relevance check, and the difference is the HTTP layer: request parsing,
the model slot, a worker-thread hop per token, JSON and SSE. The index is the three small
documents of tests/conftest.py. Runs alternate between the four ways so drift in the machine's
load hits all alike; the medians of ``--runs`` runs each are reported. Comparing two processes
mixes in their differences (and the machine's load); the last row measures the layer inside
one: for ``POST /v1/ask``, the client's wall time minus the engine's own ``timings.total_s``.

    .venv/bin/python bench/http_overhead.py [--runs 30]   →  bench/results/http_overhead.json
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, machine, percentiles, write_json

sys.path.insert(0, str(ROOT))

QUESTION = "When was the Harrowgate lighthouse built?"


def _run_llm(llm: Any) -> None:
    with llm.running():
        while True:
            time.sleep(3600)


def _until_up(url: str) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


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

    llm = ScriptedLLMServer(DOCS_SCRIPT)
    # its own process: in this one it would take the GIL from the in-process ask()
    child = multiprocessing.get_context("fork").Process(target=_run_llm, args=(llm,), daemon=True)
    child.start()
    _until_up(f"{llm.base_url}/models")
    with tempfile.TemporaryDirectory(prefix="askai-bench-") as tmp:
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

            inside: list[float] = []  # the server's own answer time (Answer.timings.total_s)

            def ask_json() -> str:
                answer = http.post(f"{url}/v1/ask", json={"question": QUESTION}).json()
                inside.append(answer["timings"]["total_s"])
                return answer["text"]

            ways = {"ask() in-process": direct, "chat completions": chat,
                    "chat completions, streamed": chat_stream, "POST /v1/ask": ask_json}
            expected = direct()
            assert "[1]" in expected, expected
            for way in ways.values():  # warm every path once, untimed
                assert way() == expected
            inside.clear()
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.runs):
                for name, way in ways.items():
                    t0 = time.perf_counter()
                    text = way()
                    times[name].append(time.perf_counter() - t0)
                    assert text == expected, (name, text)
    child.terminate()
    base = statistics.median(times["ask() in-process"])
    results: dict[str, Any] = {
        name: {**percentiles(values, scale=1000, digits=1),
               "overhead_ms_median": round((statistics.median(values) - base) * 1000, 1)}
        for name, values in times.items()
    }
    layer = [wall - engine for wall, engine in zip(times["POST /v1/ask"], inside, strict=True)]
    results["HTTP layer of POST /v1/ask"] = {
        **percentiles(layer, scale=1000, digits=1),
        "what": "per request: the client's wall time minus the engine's own total_s, measured "
                "in the same server process (HTTP, JSON, the model slot; the per-token thread "
                "hops fall inside total_s)",
    }
    out = {"runs": args.runs, "unit": "ms", "question": QUESTION, "results": results,
           "machine": machine(),
           "note": "2 shared CPU cores; other work ran at the same time, so the times are "
                   "contaminated by it: compare medians, not single runs"}
    write_json(RESULTS / "http_overhead.json", out)
    print(f"{'way':30} {'p50 ms':>8} {'p95 ms':>8} {'overhead (p50) ms':>18}")
    for name, r in results.items():
        print(f"{name:30} {r['p50']:8.1f} {r['p95']:8.1f} {r.get('overhead_ms_median', 0):18.1f}")


if __name__ == "__main__":
    main()
