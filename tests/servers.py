"""Real servers on loopback for the contract tests, started and stopped by the tests."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from fastapi import Request  # module level: FastAPI resolves the handlers' annotations here


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"server not up after {seconds} s: {log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.5)


@contextlib.contextmanager
def serve(
    cmd: list[str], url: str, log: Path, seconds: float, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run ``cmd`` until ``url`` answers; stop it afterwards. Its output goes to ``log``."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait(url, proc, log, seconds)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def chroma_server(path: Path) -> Iterator[int]:
    """`chroma run` from the chromadb package; yields its port."""
    chroma = shutil.which("chroma", path=os.path.dirname(sys.executable)) or shutil.which("chroma")
    if chroma is None:
        raise RuntimeError("the `chroma` command (from the chromadb package) is not installed")
    port = free_port()
    cmd = [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    with serve(cmd, f"http://127.0.0.1:{port}/api/v2/heartbeat", path.parent / "chroma.log", 60):
        yield port


@contextlib.contextmanager
def llama_server(model: Path, log: Path, n_ctx: int = 4096) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the same GGUF; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(os.cpu_count() or 2)]
    with serve(cmd, f"http://127.0.0.1:{port}/v1/models", log, 180):
        yield f"http://127.0.0.1:{port}/v1"


class ScriptedLLMServer:
    """A real OpenAI-compatible chat server (FastAPI on loopback, in a thread) that answers from
    a script instead of a model: for the servers' tests, which need an LLM backend in another
    process than the test but not the real model's minutes. It streams, answers the relevance
    check's log-probabilities, records every request, and notes whether each stream ran to its
    end or was cut off by the client.

    ``script`` maps a word of the question to (reply, evidence): the reply's ``{n}`` becomes the
    number of the source passage holding ``evidence``, as the real model would cite it.
    """

    def __init__(self, script: dict[str, tuple[str, str]], rewrite: str = "") -> None:
        self.script = script
        self.rewrite = rewrite  # the reply to a follow-up rewrite prompt
        self.delay = 0.0  # seconds between streamed words
        self.requests: list[list[dict[str, str]]] = []
        # one per streamed reply: {"words", "sent", "finished", "closed"}
        self.streams: list[dict[str, int | bool]] = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def reply(self, messages: list[dict[str, str]]) -> str:
        system, user = messages[0]["content"], messages[-1]["content"]
        if system.startswith("Rewrite the user's last question"):
            return self.rewrite
        question = user.rsplit("\nQuestion: ", 1)[-1].lower()
        sources = {int(m[1]): m[2] for m in re.finditer(r"^\[(\d+)\] (.*)$", user, re.M)}
        for word, (reply, evidence) in self.script.items():
            if word in question:
                n = next((i for i, text in sources.items() if evidence in text), 0)
                return reply.format(n=n)
        return "I couldn't find that in the documents."

    def app(self):  # noqa: ANN201
        import asyncio
        import json

        from fastapi import FastAPI
        from fastapi.responses import StreamingResponse

        app = FastAPI()

        @app.get("/v1/models")
        def models() -> dict:
            return {"object": "list", "data": [{"id": "scripted", "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):  # noqa: ANN202
            body = await request.json()
            self.requests.append(body["messages"])
            if body.get("logprobs"):  # the relevance check: a confident YES
                top = [{"token": "YES", "logprob": -0.05}, {"token": "NO", "logprob": -3.0}]
                return {"choices": [{"index": 0, "message": {"role": "assistant",
                                                             "content": "YES"},
                                     "logprobs": {"content": [{"token": "YES", "logprob": -0.05,
                                                               "top_logprobs": top}]}}]}
            words = self.reply(body["messages"]).split(" ")
            if not body.get("stream"):
                return {"choices": [{"index": 0, "message": {"role": "assistant",
                                                             "content": " ".join(words)}}]}
            record: dict[str, int | bool] = {"words": len(words), "sent": 0, "finished": False,
                                             "closed": False}
            self.streams.append(record)

            async def events():  # noqa: ANN202
                try:
                    for i, word in enumerate(words):
                        if self.delay:
                            await asyncio.sleep(self.delay)
                        delta = {"content": word if i == 0 else " " + word}
                        chunk = {"choices": [{"index": 0, "delta": delta}]}
                        yield f"data: {json.dumps(chunk)}\n\n"
                        record["sent"] = i + 1
                    yield "data: [DONE]\n\n"
                    record["finished"] = True
                finally:  # also when the client hung up (the task is cancelled)
                    record["closed"] = True

            return StreamingResponse(events(), media_type="text/event-stream")

        return app

    @contextlib.contextmanager
    def running(self) -> Iterator[ScriptedLLMServer]:
        import threading

        import uvicorn

        server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=self.port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the scripted LLM server did not start")
            time.sleep(0.05)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=10)


# What the scripted LLM answers about tests/conftest.py's write_docs collection: the word of the
# question, the reply, and the evidence its [n] cites.
DOCS_SCRIPT = {
    "automated": ("The lighthouse was automated in 1969 and has had no keeper since then [{n}].",
                  "automated in 1969"),
    "built": ("The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell [{n}].",
              "built in 1874"),
    "bakery": ("Orvale Bakery opened in the town of Pennick in 2011 [{n}].",
               "opened in the town of Pennick"),
    "quokkas": ("Quokkas live on Rottnest Island off the coast of Western Australia [{n}].",
                "Rottnest Island"),
}
DOCS_REWRITE = "When was the Harrowgate lighthouse automated?"


def askai_env(home: Path, llm: ScriptedLLMServer | None, **settings: str) -> dict[str, str]:
    """The environment of an askai process on the index in ``home`` whose LLM is ``llm`` (None:
    the default, the real model); ``settings`` are more ASKAI_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKAI_")}
    env.update({
        "ASKAI_STORE__PATH": str(home / "chroma"),
        "ASKAI_UI__UPLOAD_DIR": str(home / "uploads"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    })
    if llm is not None:
        env.update({"ASKAI_LLM__BACKEND": "openai", "ASKAI_LLM__BASE_URL": llm.base_url,
                    "ASKAI_LLM__MODEL": "scripted"})
    env.update(settings)
    return env
