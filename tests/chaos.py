"""Chaos on one embedded index: two writer processes (ingest, re-ingest changed files) killed with
SIGKILL at random moments, and a "page" process asking questions and deleting documents all the
while; afterwards every document is complete or absent, a re-ingest completes it, the store opens
cleanly. Used by tests/test_store_chaos.py (small) and bench/store_chaos.py (larger).

Workers are forked from a forkserver that has imported askai and chromadb once, so a killed
writer is replaced in milliseconds, and they embed with a small hashing embedder (the embedder is
not under test; loading MiniLM takes seconds per process on a busy machine).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import signal
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

WORDS = ("amber basalt cedar delta ember fjord garnet harbor indigo juniper kestrel lagoon "
         "marble nectar orchid pebble quartz raven saffron tundra umber violet willow").split()


class HashEmbedder:
    """Hashed bag of words, 64 dimensions: deterministic and instant."""

    name = "chaos-hash-64"
    dimension = 64

    @staticmethod
    def tokenizer(text: str) -> list[str]:
        return text.split()

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for w in text.lower().split():
            v[int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % self.dimension] += 1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v

    def embed_documents(self, texts):  # noqa: ANN001, ANN201
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, 64), "f4")

    def embed_query(self, text: str) -> np.ndarray:
        return self._one(text)


def password(i: int) -> str:
    """A word found in document ``i`` only (letters: no token splitting on digits)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return f"zorp{letters[i // 26 % 26]}{letters[i % 26]}"


def write_docs(folder: Path, n: int, version: int = 0, sentences: int = 10,
               prefix: str = "doc") -> None:
    """``n`` documents; document i states "code i is WORD" among filler sentences."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = random.Random(i * 1000 + version)
        lines = [f"The access code of vault {i} is {WORDS[i % len(WORDS)]}{i}, "
                 f"its password {password(i)}."]
        lines += [f"Version {version} note {j}: the " + " ".join(rng.choices(WORDS, k=8)) + "."
                  for j in range(sentences)]
        (folder / f"{prefix}{i:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _engine(store_path: str):  # noqa: ANN202
    from askai.engine import Engine
    from askai.settings import Settings

    settings = Settings(store={"path": store_path, "lock_timeout_s": 120},
                        ingest={"chunk_size": 48, "chunk_overlap": 8})  # type: ignore[arg-type]
    return Engine(settings, embedder=HashEmbedder())


def writer(store_path: str, docs: str, seed: int) -> None:
    """Ingest forever: the documents as they are, or a changed version of some of them."""
    rng = random.Random(seed)
    engine = _engine(store_path)
    mine = Path(docs).parent / f"writer-{seed}"
    while True:
        if rng.random() < 0.5:
            engine.ingest([docs], progress=False)
        else:  # changed files under the same names: their chunks are replaced
            write_docs(mine, len(list(Path(docs).glob("*.txt"))), version=rng.randint(1, 3))
            engine.ingest([mine], progress=False)


def page(store_path: str, n_docs: int, out: str, stop: multiprocessing.synchronize.Event,
         delete_every: int) -> None:
    """Ask questions (the retrieval path of the page) and now and then delete a document;
    count outcomes into ``out`` (JSON) when stopped."""
    from askai.errors import IndexNotFoundError

    engine = _engine(store_path)
    counts = {"questions": 0, "answered": 0, "empty_index": 0, "errors": 0, "deletes": 0,
              "delete_missing": 0, "error_samples": []}
    rng = random.Random(7)
    while not stop.is_set():
        i = rng.randrange(n_docs)
        try:
            counts["questions"] += 1
            passages = engine.retrieve(f"What is the access code of vault {i}?")
            counts["answered"] += bool(passages)
            if counts["questions"] % delete_every == 0:
                ready = [d.doc_id for d in engine.documents()]
                if ready:
                    try:
                        engine.delete_document(rng.choice(ready))
                        counts["deletes"] += 1
                    except IndexNotFoundError:
                        counts["delete_missing"] += 1
        except IndexNotFoundError as exc:
            if "is empty" not in str(exc):
                counts["errors"] += 1
                counts["error_samples"].append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                counts["empty_index"] += 1
        except Exception as exc:  # noqa: BLE001 - every error is counted and reported
            counts["errors"] += 1
            if len(counts["error_samples"]) < 5:
                counts["error_samples"].append(
                    f"{type(exc).__name__}: {exc}"[:300] + " | "
                    + traceback.format_exc().splitlines()[-3][:200])
    Path(out).write_text(json.dumps(counts), encoding="utf-8")


@dataclass
class ChaosResult:
    cycles: int
    kills: int = 0
    writer_crashes: int = 0  # writers that died on their own (an error; their stderr shows it)
    seconds: float = 0.0
    page: dict = field(default_factory=dict)
    before_reingest: dict = field(default_factory=dict)  # complete / absent / pending / broken
    after_reingest: dict = field(default_factory=dict)
    reingest_ok: bool = False
    found_after: int = 0  # documents whose code the retrieval finds after the re-ingest

    def to_dict(self) -> dict:
        return asdict(self)


def check(store_path: str, folder: Path, n_docs: int) -> dict:
    """Classify every document of the store: complete (ready, all chunks and sentences), pending
    (a dead writer's leftover, invisible to readers), broken (ready but incomplete); and count the
    documents of ``folder`` (doc00.txt … ) that are absent. (A document is its file's path: the
    writers' changed versions in their own folders are documents of their own.)"""
    from askai.ingest.pipeline import chunk_sentences

    engine = _engine(store_path)  # opening it is part of the check
    store = engine.store
    out = {"complete": 0, "pending": 0, "broken": 0, "absent": 0, "broken_ids": []}
    records = {r.doc_id: r for r in store.list_documents()}
    out["absent"] = sum(doc_path(folder, i) not in records for i in range(n_docs))
    for record in records.values():
        if record.status != "ready":
            out["pending"] += 1
            continue
        chunks = [c for c in store.chunks_of(record.doc_id) if c.doc_hash == record.sha256]
        keys = [k for c in chunks for k in chunk_sentences(c.doc_id, c.text, c.start)]
        whole = len(chunks) == record.chunks and len(store.sentence_vectors(keys)) == len(
            set(keys)) and _text_complete(store, record.doc_id)
        if whole:
            out["complete"] += 1
        else:
            out["broken"] += 1
            out["broken_ids"].append(record.doc_id)
    return out


def _text_complete(store: object, doc_id: str) -> bool:
    """Are all of a ready document's text pieces there (reading it raises if not)?"""
    from askai.errors import IndexCorruptError

    try:
        return store.get_document(doc_id) is not None  # type: ignore[attr-defined]
    except IndexCorruptError:
        return False


def doc_path(folder: Path, i: int) -> str:
    """The document id of ``folder``'s i-th file: its absolute path."""
    return (Path(folder) / f"doc{i:02d}.txt").resolve().as_posix()


def run(root: Path, *, docs: int, cycles: int, seed: int = 0, min_s: float = 0.5,
        max_s: float = 3.0, delete_every: int = 40) -> ChaosResult:
    """Run the chaos; ``root`` is an empty folder of its own."""
    rng = random.Random(seed)
    store_path = str(root / "index")
    folder = root / "docs"
    write_docs(folder, docs)
    # the forkserver is a fresh interpreter: it must import this askai and these tests, not
    # whichever askai is installed
    import askai

    paths = [str(Path(askai.__file__).resolve().parents[1]), str(Path(__file__).parents[1])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")])
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([
        "askai.engine", "chromadb", "numpy", "nltk", "llama_index.core.node_parser", "filelock",
        "tests.chaos",
    ])
    result = ChaosResult(cycles=cycles)
    started = time.monotonic()
    stop = ctx.Event()
    page_out = root / "page.json"
    reader = ctx.Process(target=page, args=(store_path, docs, str(page_out), stop, delete_every))
    writers = [ctx.Process(target=writer, args=(store_path, str(folder), s)) for s in (1, 2)]
    reader.start()
    for w in writers:
        w.start()
    try:
        for cycle in range(cycles):
            time.sleep(rng.uniform(min_s, max_s))
            k = rng.randrange(len(writers))
            if writers[k].is_alive():
                os.kill(writers[k].pid, signal.SIGKILL)
                result.kills += 1
            writers[k].join()
            if writers[k].exitcode != -signal.SIGKILL:  # it died of something else: an error
                result.writer_crashes += 1
            writers[k] = ctx.Process(target=writer,
                                     args=(store_path, str(folder), 100 + cycle))
            writers[k].start()
    finally:
        for w in writers:
            if w.is_alive():
                os.kill(w.pid, signal.SIGKILL)
            w.join()
        stop.set()
        reader.join(timeout=300)
        if reader.is_alive():
            os.kill(reader.pid, signal.SIGKILL)
            reader.join()
    result.page = json.loads(page_out.read_text()) if page_out.exists() else {"missing": True}
    result.before_reingest = check(store_path, folder, docs)
    report = _engine(store_path).ingest([folder], progress=False)
    result.reingest_ok = report.ok
    result.after_reingest = check(store_path, folder, docs)
    engine = _engine(store_path)
    engine.retrieve("Which vault has the password?")  # the page's path, once more
    lexical = engine.retriever.lexical()  # what questions search: the ready documents
    for i in range(docs):  # each document is searchable by its own password
        # every chunk with the password (the writers' versions of the document share it)
        found = lexical.search(password(i), len(lexical.chunks))
        result.found_after += any(lexical.chunks[j].doc_id == doc_path(folder, i) for j in found)
    result.seconds = round(time.monotonic() - started, 1)
    return result
