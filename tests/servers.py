"""Real servers on loopback for the contract tests, started and stopped by the tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


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
