"""One embedded index, several real processes (issue #17 §1): one writer at a time, said and timed
out; readers in another process see new documents and never stale segments; kill -9 chaos."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from askai.engine import Engine
from askai.errors import IndexBusyError
from askai.settings import Settings

from .chaos import WORDS, HashEmbedder, run, write_docs

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _engine(path: Path, timeout: float = 60) -> Engine:
    settings = Settings(store={"path": str(path), "lock_timeout_s": timeout},  # type: ignore[arg-type]
                        ingest={"chunk_size": 48, "chunk_overlap": 8})
    return Engine(settings, embedder=HashEmbedder())


def test_a_second_writer_waits_names_the_holder_then_fails_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_docs(tmp_path / "docs", 2)
    engine = _engine(tmp_path / "index", timeout=1)
    holder = _python(f"""
        import sys, time
        from tests.chaos import _engine
        engine = _engine({str(tmp_path / "index")!r})
        with engine.store.writing():   # what `askai ingest` holds while it writes
            print("held", flush=True)
            time.sleep(120)
    """)
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        with caplog.at_level(logging.WARNING), pytest.raises(IndexBusyError) as err:
            engine.ingest([tmp_path / "docs"], progress=False)
        message = str(err.value)
        assert f"held by pid {holder.pid}" in caplog.text or f"pid {holder.pid}" in message
        assert "waiting for the index" in caplog.text and f"pid {holder.pid}" in caplog.text
        assert f"pid {holder.pid}" in message and "ASKAI_STORE__LOCK_TIMEOUT_S" in message
        assert "chroma-http" in message  # several writers at once: a Chroma server
        assert engine.store.list_documents() == []  # it wrote nothing
    finally:
        holder.kill()
        holder.wait()
    # the holder died (kill -9): the kernel released its lock, the next writer proceeds
    assert engine.ingest([tmp_path / "docs"], progress=False).documents == 2


def test_a_reader_in_another_process_sees_new_documents_never_stale_segments(
    tmp_path: Path,
) -> None:
    write_docs(tmp_path / "first", 3)
    page = _engine(tmp_path / "index")  # the page's process: ingests, answers
    page.ingest([tmp_path / "first"], progress=False)
    assert any("amber0" in p.text for p in page.retrieve("What is the access code of vault 0?"))
    # a terminal: delete a document, ingest another (vault 9), in its own process
    write_docs(tmp_path / "second", 10)
    for i in range(9):
        (tmp_path / "second" / f"doc{i:02d}.txt").unlink()
    terminal = _python(f"""
        from tests.chaos import _engine
        engine = _engine({str(tmp_path / "index")!r})
        engine.delete_document({(tmp_path / "first" / "doc00.txt").resolve().as_posix()!r})
        engine.ingest([{str(tmp_path / "second")!r}], progress=False)
        print(sorted(d.doc_id for d in engine.documents()))
    """)
    out, err = terminal.communicate(timeout=300)
    assert terminal.returncode == 0, err
    # the page's next questions: the new document is found, the deleted one is gone, no errors
    nine = page.retrieve("What is the access code of vault 9?")
    assert any(f"{WORDS[9]}9" in p.text for p in nine)
    zero = page.retrieve("What is the access code of vault 0?")
    assert not any("amber0" in p.text for p in zero)
    assert sorted(Path(d.doc_id).name for d in page.documents()) == [
        "doc01.txt", "doc02.txt", "doc09.txt"]


def test_a_half_written_document_is_invisible_and_cleaned_by_the_next_writer(
    tmp_path: Path,
) -> None:
    write_docs(tmp_path / "docs", 3)
    engine = _engine(tmp_path / "index")
    # a writer killed between a document's chunk writes and its sentence writes
    killed = _python(f"""
        import os, signal
        from tests.chaos import _engine
        engine = _engine({str(tmp_path / "index")!r})
        store = engine.store
        def die(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        store.add_sentences = die
        engine.ingest([{str(tmp_path / "docs")!r}], progress=False)
    """)
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert engine.store.count() > 0  # its chunks are in the store...
    assert engine.documents() == []  # ...but no document is complete, so none is shown
    with pytest.raises(Exception, match="is empty"):  # and none is searched (no TypeError)
        engine.retrieve("What is the access code of vault 1?")
    report = engine.ingest([tmp_path / "docs"], progress=False)  # cleans, then completes
    assert report.ok and report.documents == 3
    assert any("basalt1" in p.text for p in engine.retrieve("What is the access code of vault 1?"))


def test_chaos_two_writers_killed_questions_and_deletes_in_parallel(tmp_path: Path) -> None:
    cycles = int(os.environ.get("ASKAI_CHAOS_CYCLES", "20"))
    result = run(tmp_path, docs=4, cycles=cycles, min_s=0.3, max_s=1.5)
    print(json.dumps(result.to_dict()))  # the counts, for the record (pytest -s)
    assert result.kills >= cycles - result.writer_crashes and result.writer_crashes == 0
    assert result.page["errors"] == 0, result.page["error_samples"]
    assert result.page["questions"] > 0
    assert result.before_reingest["broken"] == 0, result.before_reingest  # complete or absent
    after = result.after_reingest  # every document of the folder complete, no leftovers
    assert result.reingest_ok and after["absent"] == after["broken"] == after["pending"] == 0, after
    assert result.found_after == 4
