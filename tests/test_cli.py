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
