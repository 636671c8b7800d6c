from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# the tests make hundreds of indexes (pytest keeps its last three runs' folders): a 1 MB disk
# reserve each, not the default's; tests of the reserve set their own
os.environ.setdefault("ASKAI_STORE__RESERVE_MB", "1")

from askai.engine import Engine  # noqa: E402
from askai.index.embedder import SentenceTransformerEmbedder, default_model_dir  # noqa: E402
from askai.settings import Settings  # noqa: E402

from .browser import CHROMIUM, FLAGS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "ingest" / "corpus"


def run_child(code: str, *args: str, timeout: float = 300) -> str:
    """Run ``code`` in a fresh Python process that imports this checkout's askai (a clean heap,
    a clean set of imported modules); it must succeed. Its standard output."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def child_json(code: str, *args: str, timeout: float = 300) -> dict:
    """:func:`run_child`, and the JSON object its last line of output holds."""
    return json.loads(run_child(code, *args, timeout=timeout).strip().splitlines()[-1])


class ScriptedLLM:
    """Stands in for the model where the model is not what is under test: it streams a fixed
    reply, word by word, and records the prompts it was given."""

    name = "scripted"

    def __init__(self, reply: str, relevance: float = 0.9) -> None:
        self.reply = reply
        self.relevance = relevance  # what yes_probability answers
        self.prompts: list[list[dict[str, str]]] = []
        self.judged: list[list[dict[str, str]]] = []

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None):  # noqa: ANN001
        self.prompts.append(messages)
        for i, word in enumerate(self.reply.split(" ")):
            yield word if i == 0 else " " + word

    def yes_probability(self, messages):  # noqa: ANN001
        self.judged.append(messages)
        return self.relevance


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(default_model_dir())


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {"store": {"path": str(tmp_path / "chroma")}}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def engine(settings: Settings, embedder: SentenceTransformerEmbedder) -> Engine:
    return Engine(settings, embedder=embedder)


def write_docs(root: Path) -> Path:
    """A small made-up collection in ``root`` (created)."""
    root.mkdir(parents=True)
    (root / "lighthouse.txt").write_text(
        "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell.\n"
        "Its lamp is visible from 31 kilometres away on a clear night.\n"
        "The lighthouse was automated in 1969 and has had no keeper since then.\n",
        encoding="utf-8",
    )
    (root / "bakery.md").write_text(
        "# Orvale Bakery\n\n"
        "Orvale Bakery opened in the town of Pennick in 2011. It is known for rye bread "
        "baked in a wood-fired oven.\n\n"
        "The bakery employs nine people and donates unsold bread to the Pennick food bank.\n",
        encoding="utf-8",
    )
    (root / "page.html").write_text(
        "<html><head><title>Glass Frogs</title><style>p{color:red}</style></head><body>"
        "<h1>Glass frogs</h1><p>Glass frogs have translucent skin on their bellies.</p>"
        "<p>They live in the rainforests of Central and South America.</p></body></html>",
        encoding="utf-8",
    )
    return root


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A small made-up collection."""
    return write_docs(tmp_path / "docs")


@pytest.fixture(scope="session")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, target / "corpus")
    yield target


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (.ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()
