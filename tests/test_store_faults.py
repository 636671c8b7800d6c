"""The store's own failures (issue #17 §4): a damaged chroma.sqlite3, a full disk."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from askai.engine import Engine
from askai.errors import IndexCorruptError, StoreWriteError
from askai.settings import Settings

from .chaos import HashEmbedder, write_docs


def _engine(path: Path, **kw: object) -> Engine:
    settings = Settings(store={"path": str(path)},  # type: ignore[arg-type]
                        ingest={"chunk_size": 48, "chunk_overlap": 8})
    return Engine(settings, embedder=HashEmbedder(), **kw)  # type: ignore[arg-type]


def test_a_damaged_sqlite_file_is_one_clear_message_and_reset_rebuilds(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 3)
    index = tmp_path / "index"
    _engine(index).ingest([tmp_path / "docs"], progress=False)
    (index / "notes.txt").write_text("the user's own file in the folder")
    with open(index / "chroma.sqlite3", "r+b") as f:  # the header and first pages overwritten
        f.write(b"\x00garbage" * 512)
    with pytest.raises(IndexCorruptError) as err:
        _engine(index)
    assert f"The index at {index} is damaged" in str(err.value)
    assert "`askai ingest --reset` rebuilds it from your documents" in str(err.value)
    rebuilt = _engine(index, reset_index=True)  # what `askai ingest --reset` does
    assert rebuilt.ingest([tmp_path / "docs"], progress=False).documents == 3
    assert (index / "notes.txt").read_text() == "the user's own file in the folder"
    assert any("basalt1" in p.text for p in rebuilt.retrieve("access code of vault 1?"))


@pytest.fixture
def small_disk(tmp_path: Path):  # noqa: ANN201
    """A real 3 MB file system (tmpfs); skipped where mounting is not permitted."""
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command: cannot make a small file system")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_during_ingest_is_clear_keeps_the_index_and_recovers(
    tmp_path: Path, small_disk: Path
) -> None:
    write_docs(tmp_path / "docs", 3)
    index = small_disk / "index"
    engine = _engine(index)
    engine.ingest([tmp_path / "docs"], progress=False)
    big = tmp_path / "big"
    write_docs(big, 40, sentences=400, prefix="big")  # far more than the 3 MB left
    with pytest.raises(StoreWriteError, match=f"disk full while writing {index}"):
        engine.ingest([big], progress=False)
    # space freed: the index answers with the documents it had (while the disk is still full it
    # cannot: Chroma must first apply the failed batch from its write-ahead log), the half-written
    # batch is not shown, and the next ingest completes
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    asker = _engine(index)
    assert any("basalt1" in p.text for p in asker.retrieve("access code of vault 1?"))
    names = {Path(d.doc_id).name for d in asker.documents()}
    assert names >= {"doc00.txt", "doc01.txt", "doc02.txt"}
    report = engine.ingest([big], progress=False)
    assert report.ok and report.documents + report.skipped == 40
    assert len(engine.documents()) == 43
