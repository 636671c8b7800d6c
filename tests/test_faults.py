"""Bad input and faults: each gets a clear per-file error, the rest is ingested, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from askai.engine import Engine

from .conftest import make_settings


def _failures(report) -> dict[str, str]:  # noqa: ANN001
    return {Path(f.path).name: f.reason for f in report.failed}


def test_every_kind_of_bad_file_at_once(engine: Engine, docs: Path) -> None:
    engine.ingest([docs], progress=False)
    before = engine.store.count()
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (docs / "latin1.txt").write_bytes("Ceci est un résumé très détaillé.".encode("latin-1"))
    (docs / "zh.txt").write_bytes("人工智能芯片出口管制推动了国产芯片研发。".encode("gbk"))
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> trailer garbage")
    (docs / "big.md").write_text("word " * 300_000)  # 1.5 MB
    os.symlink(docs / "loop-b.txt", docs / "loop-a.txt")
    os.symlink(docs / "loop-a.txt", docs / "loop-b.txt")
    os.symlink(docs / "gone.txt", docs / "dangling.txt")  # listed, then not there to read
    (docs / "sub").mkdir()
    os.symlink(docs, docs / "sub" / "cycle")  # a folder loop is not followed
    engine.settings.ingest.max_file_mb = 1.0
    report = engine.ingest([docs], progress=False)
    failures = _failures(report)
    assert failures.keys() == {"empty.txt", "binary.txt", "corrupt.pdf", "big.md",
                               "loop-a.txt", "loop-b.txt", "dangling.txt"}
    assert "no text" in failures["empty.txt"]
    assert "binary" in failures["binary.txt"]
    assert "PDF" in failures["corrupt.pdf"]
    assert "limit" in failures["big.md"]
    assert "resolved" in failures["loop-a.txt"]
    assert "vanished" in failures["dangling.txt"]
    # the Chinese and the Latin-1 files decoded and were ingested; nothing indexed was lost
    assert report.documents == 2 and engine.store.count() > before
    zh = (docs / "zh.txt").resolve().as_posix()  # a document is its file's path
    latin1 = (docs / "latin1.txt").resolve().as_posix()
    assert engine.document_text(latin1) == "Ceci est un résumé très détaillé."
    assert "芯片" in engine.document_text(zh)
    hits = engine.store.search_sentences(engine.embedder.embed_query("芯片出口管制"), 3)
    assert any(h.doc_id == zh for h in hits)
    for record in engine.documents():
        assert len(engine.store.chunks_of(record.doc_id)) == record.chunks


def _chunk_counts(engine: Engine) -> dict[str, int]:
    return {d.doc_id: len(engine.store.chunks_of(d.doc_id)) for d in engine.store.list_documents()}


@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun_is_consistent(
    tmp_path: Path, embedder  # noqa: ANN001
) -> None:
    corpus = tmp_path / "many"
    corpus.mkdir()
    for i in range(240):
        text = " ".join(f"Record {i} notes fact {j} about topic {i % 17}." for j in range(40))
        (corpus / f"doc{i:03d}.txt").write_text(text + "\n")
    env = {**os.environ, "ASKAI_STORE__PATH": str(tmp_path / "killed"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "askai", "ingest", str(corpus)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 120
    while b"ingest:  6" not in seen and b"ingest:  7" not in seen:  # 60-79% of files prepared
        chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk or time.monotonic() > deadline:
            break
        seen += chunk
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"

    killed = Engine(make_settings(tmp_path, store={"path": str(tmp_path / "killed")}),
                    embedder=embedder)
    ready = {d.doc_id for d in killed.store.list_documents() if d.status == "ready"}
    assert 0 < len(ready) < 240, "the kill should land between the first and the last batch"
    rerun = killed.ingest([corpus], progress=False)
    assert rerun.ok

    clean = Engine(make_settings(tmp_path, store={"path": str(tmp_path / "clean")}),
                   embedder=embedder)
    clean.ingest([corpus], progress=False)
    expected = _chunk_counts(clean)
    assert len(expected) == 240
    assert _chunk_counts(killed) == expected  # no duplicates, no orphans, nothing missing
    assert killed.store.count() == clean.store.count()
    # what was complete before the kill is kept; the rest (pending or absent) is redone
    assert rerun.skipped == len(ready) and rerun.documents == 240 - len(ready)
