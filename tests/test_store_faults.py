"""The store's own failures (issue #17 §4): a damaged chroma.sqlite3, a full disk."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from askai.engine import Engine
from askai.errors import IndexCorruptError, StoreWriteError
from askai.settings import Settings

from .chaos import HashEmbedder, write_docs


def _engine(path: Path, reserve_mb: int = 1, **kw: object) -> Engine:
    settings = Settings(store={"path": str(path), "reserve_mb": reserve_mb},  # type: ignore[arg-type]
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


def _fill(path: Path) -> None:
    """Take every free byte of the file system ``path`` is on."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


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
    # the disk still full: the index answers with the documents it had, in this process and in
    # a new one (the page opened after the failed ingest), and shows no half-written document
    for asker in (engine, _engine(index)):
        assert any("basalt1" in p.text for p in asker.retrieve("access code of vault 1?"))
        names = {Path(d.doc_id).name for d in asker.documents()}
        assert names >= {"doc00.txt", "doc01.txt", "doc02.txt"}
        assert all(d.status == "ready" and d.chunks > 0 for d in asker.documents())
    # the reserve it gave back cannot be made again while the disk is full (another program
    # took the rest): the next ingest says so before it writes anything, the index still answers
    _fill(small_disk / "someone-elses-file")
    with pytest.raises(StoreWriteError, match="keeps 1 MB free beside it"):
        engine.ingest([big], progress=False)
    assert not (index / "askai.reserve").exists()
    assert any("basalt1" in p.text for p in _engine(index).retrieve("access code of vault 1?"))
    # space freed: the next ingest completes, and the reserve is back
    (small_disk / "someone-elses-file").unlink()
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    report = engine.ingest([big], progress=False)
    assert report.ok and report.documents + report.skipped == 40
    assert len(engine.documents()) == 43
    assert (index / "askai.reserve").stat().st_size == 2**20


@pytest.mark.parametrize("applied", [False, True], ids=["refused", "logged-not-applied"])
@pytest.mark.parametrize("nth", [1, 4, 5])
def test_enospc_injected_at_the_write_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nth: int, applied: bool
) -> None:
    """chromadb's writes fail with ENOSPC at the n-th write call of an ingest (1: the documents'
    texts, 4: the sentences, 5: the records turned ready), before it wrote anything or after it
    logged the batch: the same clear error, the reserve given back, no
    half-written document shown, the old documents answered, and the next ingest completes."""
    import errno

    from chromadb.api.models.Collection import Collection

    write_docs(tmp_path / "docs", 3)
    index = tmp_path / "index"
    engine = _engine(index)
    engine.ingest([tmp_path / "docs"], progress=False)
    assert (index / "askai.reserve").exists()
    write_docs(tmp_path / "more", 4, version=1, prefix="more")
    calls = {"n": 0}
    real = {name: getattr(Collection, name) for name in ("upsert", "add", "update")}

    def failing(method: Callable[..., None]) -> Callable[..., None]:
        def write(self: Collection, *args: object, **kwargs: object) -> None:
            calls["n"] += 1
            if calls["n"] == nth:
                if applied:
                    method(self, *args, **kwargs)
                raise OSError(errno.ENOSPC, "No space left on device")
            method(self, *args, **kwargs)

        return write

    for name, method in real.items():
        monkeypatch.setattr(Collection, name, failing(method))
    with pytest.raises(StoreWriteError, match=f"disk full while writing {index}"):
        engine.ingest([tmp_path / "more"], progress=False)
    for name, method in real.items():
        monkeypatch.setattr(Collection, name, method)
    assert calls["n"] >= nth  # the fault was injected
    assert not (index / "askai.reserve").exists()  # given back for the readers
    for asker in (engine, _engine(index)):
        assert any("basalt1" in p.text for p in asker.retrieve("access code of vault 1?"))
        ready = asker.documents()
        assert {Path(d.doc_id).name for d in ready} >= {"doc00.txt", "doc01.txt", "doc02.txt"}
        for d in ready:  # complete or absent: every listed document has all its chunks
            assert len(asker.store.chunks_of(d.doc_id)) == d.chunks
    report = engine.ingest([tmp_path / "more"], progress=False)
    assert report.ok, report.failed
    assert len(engine.documents()) == 7
    assert (index / "askai.reserve").exists()
    assert any("more" in Path(p.source).name for p in engine.retrieve("access code of vault 3?"))


def test_a_changed_document_whose_new_text_fails_to_write_is_re_ingested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document's text lives in pieces beside its record. Re-ingesting a changed document
    replaces its pieces; when that write fails (here: ENOSPC on the first piece, after the old
    pieces are gone; a kill -9 leaves the same state) the index must still open and list, the
    other documents still answer, and the next ingest completes the document."""
    import errno

    from chromadb.api.models.Collection import Collection

    write_docs(tmp_path / "docs", 3)
    index = tmp_path / "index"
    engine = _engine(index)
    engine.ingest([tmp_path / "docs"], progress=False)
    write_docs(tmp_path / "docs", 1, version=7)  # doc00.txt changes
    real = Collection.upsert

    def failing(self: Collection, *args: object, **kwargs: object) -> None:
        if self.name.endswith("__texts"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "upsert", failing)
    with pytest.raises(StoreWriteError, match="disk full"):
        engine.ingest([tmp_path / "docs"], progress=False)
    monkeypatch.setattr(Collection, "upsert", real)
    for asker in (engine, _engine(index)):
        names = {Path(d.doc_id).name for d in asker.documents()}
        assert names >= {"doc01.txt", "doc02.txt"}, names
        assert any("basalt1" in p.text for p in asker.retrieve("access code of vault 1?"))
    report = engine.ingest([tmp_path / "docs"], progress=False)
    assert report.ok, report.failed
    doc00 = next(d for d in engine.documents() if d.doc_id.endswith("doc00.txt"))
    assert "Version 7 note" in engine.document_text(doc00.doc_id)
    assert len(engine.documents()) == 3
