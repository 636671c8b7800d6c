"""A read-only index is reported as read-only, with where; never answered with `--reset`.

The tests run as root, whom file modes do not stop, so the store is made immutable with
``chattr +i`` (which binds root too); where the file system has no such flag they are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from askai.engine import Engine
from askai.errors import IndexReadOnlyError
from askai.index.readonly import read_only_cause

from .conftest import ROOT, make_settings

SRC = ROOT / "src"


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", "-R", flag, str(path)], check=True, capture_output=True)


@contextmanager
def _immutable(path: Path) -> Iterator[Path]:
    """``path`` made immutable (root included) for the block; skips where the file system has
    no such flag."""
    try:
        _chattr("+i", path)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"this file system has no immutable flag: {exc.stderr.decode().strip()}")
    try:
        yield path
    finally:
        _chattr("-i", path)


@pytest.fixture
def frozen_store(tmp_path: Path, embedder, docs: Path) -> Iterator[Path]:  # noqa: ANN001
    """An index of ``docs`` whose folder and files nobody, root included, may write."""
    from chromadb.api.client import SharedSystemClient

    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    engine = Engine(make_settings(tmp_path), embedder=embedder)
    engine.ingest([docs], progress=False)
    del engine
    SharedSystemClient.clear_system_cache()  # the next open reads the files again
    with _immutable(tmp_path / "chroma") as store:
        yield store
        SharedSystemClient.clear_system_cache()


def test_a_read_only_index_says_read_only_and_where(
    frozen_store: Path, tmp_path: Path, embedder  # noqa: ANN001
) -> None:
    from chromadb.api.client import SharedSystemClient

    for reset in (False, True):  # --reset too: it must not try to delete a read-only index
        SharedSystemClient.clear_system_cache()  # as in a new process
        with pytest.raises(IndexReadOnlyError) as info:
            Engine(make_settings(tmp_path), embedder=embedder, reset_index=reset)
        message = str(info.value)
        assert "read-only" in message and str(frozen_store) in message
        assert "--reset" not in message and "ASKAI_STORE__PATH" in message
    assert (frozen_store / "chroma.sqlite3").is_file()


def test_the_cli_says_read_only_in_one_line(frozen_store: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "askai", "documents"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "ASKAI_STORE__PATH": str(frozen_store), "PYTHONPATH": str(SRC)},
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "read-only" in done.stderr and "--reset" not in done.stderr
    assert "Traceback" not in done.stderr


def test_read_only_causes_are_found_in_the_chain() -> None:
    import errno

    from chromadb.errors import InternalError

    from askai.errors import IndexCorruptError

    inner = InternalError("error returned from database: (code: 8) attempt to write a readonly "
                          "database")
    try:
        try:
            raise inner
        except InternalError as exc:
            raise IndexCorruptError("Cannot open the Chroma collection") from exc
    except IndexCorruptError as outer:
        assert read_only_cause(outer) == str(inner)
    assert read_only_cause(OSError(errno.EROFS, "Read-only file system")) is not None
    assert read_only_cause(InternalError("database disk image is malformed")) is None


def test_a_store_made_read_only_after_opening_fails_each_upload_with_a_reason(
    tmp_path: Path, embedder, docs: Path  # noqa: ANN001
) -> None:
    """Writes to an open store that became read-only raise IndexReadOnlyError (SQLite says only
    "unable to open database file"), and the page reports it per file instead of a bare Error."""
    from askai.ui.app import build_app

    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    engine = Engine(make_settings(tmp_path, ui={"upload_dir": str(tmp_path / "uploads")}),
                    embedder=embedder)
    engine.ingest([docs], progress=False)
    app = build_app(engine)
    add_files = next(f.fn for f in app.fns.values() if f.name == "add_files")
    (docs / "new.txt").write_text("Glass frogs have translucent skin.\n")
    with _immutable(tmp_path / "chroma"):
        with pytest.raises(IndexReadOnlyError, match="read-only"):
            engine.ingest([docs / "new.txt"], progress=False)
        uploads = [tmp_path / "a.txt", tmp_path / "b.txt"]
        for i, path in enumerate(uploads):
            path.write_text(f"Upload number {i} is about quokkas.\n")
        status, *_ = add_files([str(p) for p in uploads], progress=lambda *a, **k: None)
    lines = status.split("\n\n")
    assert len(lines) == 2 and all("read-only" in line for line in lines), status
