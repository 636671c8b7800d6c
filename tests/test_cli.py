from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from askai.cli import main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASKAI_STORE__PATH", str(tmp_path / "chroma"))
    return tmp_path


def test_ingest_then_list(env: Path, docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(docs), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3 documents" in out and "0 failed" in out
    assert main(["documents"]) == 0
    assert "lighthouse.txt" in capsys.readouterr().out


def test_ingest_failure_sets_exit_status(env: Path, docs: Path, capsys) -> None:  # noqa: ANN001
    (docs / "bad.txt").write_bytes(b"\x00\x01binary")
    assert main(["ingest", str(docs), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "bad.txt: looks like a binary file" in captured.err
    assert "3 documents" in captured.out


def test_errors_are_one_line_without_traceback(env: Path, capsys) -> None:  # noqa: ANN001
    assert main(["ask", "   "]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty" in err and "Traceback" not in err
    assert main(["ask", "What is this?"]) == 1
    assert "askai ingest" in capsys.readouterr().err


def test_bad_setting_is_one_line(env: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("ASKAI_RETRIEVAL__TOP_K", "zero")
    assert main(["documents"]) == 1
    err = capsys.readouterr().err
    assert "retrieval.top_k" in err and err.count("\n") == 1


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, askai.cli\n"
        "heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'gradio') if m in sys.modules]\n"
        "print(json.dumps(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []
    help_out = subprocess.run(
        [sys.executable, "-m", "askai", "--help"], capture_output=True, text=True, check=True
    )
    assert "ingest" in help_out.stdout and "ask" in help_out.stdout


def test_index_from_another_embedder_names_the_fix(env: Path, docs: Path, capsys) -> None:  # noqa: ANN001
    from askai.index.store import build_store
    from askai.settings import load_settings

    build_store(load_settings().store, "some-other-embedder", 5)
    assert main(["documents"]) == 1
    assert "askai ingest --reset" in capsys.readouterr().err
    assert main(["ingest", str(docs), "--reset", "--quiet"]) == 0
    assert "3 documents" in capsys.readouterr().out


def test_corrupt_index_names_the_fix_and_reset_repairs(
    env: Path, docs: Path, capsys  # noqa: ANN001
) -> None:
    store = env / "chroma"
    store.mkdir()
    (store / "chroma.sqlite3").write_bytes(b"this is not a sqlite database" * 100)
    assert main(["documents"]) == 1
    err = capsys.readouterr().err
    assert "askai ingest --reset" in err and err.count("\n") == 1
    assert main(["ingest", str(docs), "--reset", "--quiet"]) == 0
    assert main(["documents"]) == 0
    assert "3 documents" in capsys.readouterr().out


def test_ask_prints_only_verified_text(
    env: Path, docs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from askai.llm.base import LLM_BACKENDS

    from .conftest import ScriptedLLM

    invented = "Its lamp settings are stored in /etc/harrowgate/lamp.conf [1]."
    reply = "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell [1]. "
    reply += invented
    monkeypatch.setitem(LLM_BACKENDS, "llama-cpp", lambda settings: ScriptedLLM(reply))
    assert main(["ingest", str(docs), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["ask", "When was the Harrowgate lighthouse built?"]) == 0
    captured = capsys.readouterr()
    assert "/etc/harrowgate/lamp.conf" not in captured.out  # the draft is never shown as answer
    assert "built in 1874 by the engineer Mara Quell [1]." in captured.out
    assert "lighthouse.txt" in captured.out  # its source, as before
    # the removed sentence is reported as removed, on stderr, not as part of the answer
    assert "removed" in captured.err and "lamp.conf" in captured.err


def _closed_pipe() -> int:
    """The write end of a pipe whose reader has already gone."""
    import os

    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize("argv", [["--help"], ["ask", "--help"]])
def test_a_closed_pipe_ends_quietly(env: Path, argv: list[str]) -> None:
    # argparse's own output (the documents listing below covers the commands' output)
    import os

    write = _closed_pipe()
    try:
        done = subprocess.run([sys.executable, "-m", "askai", *argv], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write)
    assert done.stderr == ""  # no "BrokenPipeError", no "Exception ignored"
    assert done.returncode == 0


def test_documents_into_head_ends_quietly(env: Path, tmp_path: Path) -> None:
    # more output than a pipe holds (64 KiB) and head reads, so askai is still writing when head
    # leaves: 160 lines of ~1 kB (long folder names make long document ids)
    many = tmp_path / "many"
    folder = many / ("lamps-" * 40) / ("keepers-" * 30) / ("notes-" * 40)
    folder.mkdir(parents=True)
    for i in range(160):
        (folder / f"note-{i:03d}.txt").write_text(f"Note {i} is about lamp number {i}.\n")
    assert main(["ingest", str(many), "--quiet"]) == 0
    done = subprocess.run(
        f"{sys.executable} -m askai documents | head -n 1; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=300,
    )
    assert done.stdout.count("\n") == 1 and "note-" in done.stdout
    assert done.stderr == ""
    assert done.returncode == 0
