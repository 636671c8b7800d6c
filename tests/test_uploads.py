"""The user's files (issue #17, section 2): askai deletes only files it created, a failed upload
loses no earlier one, two files of one name are two documents, and a deleted upload leaves no
copy behind (askai's or Gradio's)."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import urllib.error  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from askai.cli import main  # noqa: E402
from askai.engine import Engine  # noqa: E402
from askai.errors import IndexCorruptError  # noqa: E402

from .conftest import ScriptedLLM, make_settings  # noqa: E402
from .servers import free_port  # noqa: E402


@dataclass
class Page:
    url: str
    engine: Engine
    home: Path  # the upload folder setting points at the user's own folder, home/
    cache: Path  # Gradio's upload cache (GRADIO_TEMP_DIR)

    def client(self):  # noqa: ANN201
        from gradio_client import Client

        return Client(self.url, verbose=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, embedder: object) -> Iterator[Page]:
    base = tmp_path_factory.mktemp("page")
    home, cache = base / "home", base / "gradio-cache"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(cache))
        from askai.ui.app import build_app

        settings = make_settings(base, ui={"upload_dir": str(home)})
        engine = Engine(settings, embedder=embedder, llm=ScriptedLLM("unused"))
        app = build_app(engine)
        app.queue(max_size=64, default_concurrency_limit=1)
        port = free_port()
        app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                   quiet=True)
        try:
            yield Page(f"http://127.0.0.1:{port}/", engine, home, cache)
        finally:
            app.close()


def _upload(page: Page, *files: Path) -> tuple[str, list[list[object]]]:
    from gradio_client import handle_file

    status, table, *_ = page.client().predict(
        [handle_file(str(f)) for f in files], api_name="/upload"
    )
    return status, table["data"]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_deleting_never_removes_the_users_folder(page: Page) -> None:
    """The upload folder setting overlaps the user's files: deleting a document that askai did
    not upload removes it from the index only."""
    mine = _write(page.home / "notes" / "ferns.txt", "Tree ferns grow slowly in cool forests.\n")
    other = _write(page.home / "notes" / "keep-me.txt", "Not a document of the index.\n")
    assert page.engine.ingest([mine], progress=False).documents == 1
    [record] = page.engine.documents()
    status = page.client().predict(record.doc_id, api_name="/delete")[0]
    assert "deleted" in status
    assert mine.read_text() and other.read_text()  # both files and their folder are still there
    assert page.engine.documents() == []


def test_a_failed_upload_keeps_the_earlier_upload_of_the_same_bytes(
    page: Page, tmp_path: Path
) -> None:
    text = "Axolotls regrow their limbs, hearts and parts of their brains.\n"
    status, _ = _upload(page, _write(tmp_path / "axolotl.txt", text))
    assert "axolotl.txt: indexed" in status
    [record] = [d for d in page.engine.documents() if d.path.endswith("axolotl.txt")]
    stored = Path(record.path)
    status, _ = _upload(page, _write(tmp_path / "axolotl.pdf", text))  # not a PDF: fails
    assert "❌ axolotl.pdf" in status
    assert stored.read_text() == text, "the failed upload deleted the earlier upload's file"
    assert not (stored.parent / "axolotl.pdf").exists()
    page.client().predict(record.doc_id, api_name="/delete")
    assert not stored.exists() and not stored.parent.exists()


def test_a_deleted_upload_leaves_no_copy(page: Page, tmp_path: Path) -> None:
    text = "The okapi is the only living relative of the giraffe.\n"
    status, _ = _upload(page, _write(tmp_path / "okapi.txt", text))
    assert "okapi.txt: indexed" in status
    [record] = [d for d in page.engine.documents() if d.path.endswith("okapi.txt")]
    cached = [p for p in page.cache.rglob("okapi.txt")]
    page.client().predict(record.doc_id, api_name="/delete")
    assert not Path(record.path).exists() and not Path(record.path).parent.exists()
    leftovers = [p for p in page.cache.rglob("*") if p.is_file() and text in _read(p)]
    assert leftovers == [], "Gradio's cache still holds the deleted upload"
    for path in cached:  # and the page no longer serves it
        url = page.url + "gradio_api/file=" + urllib.parse.quote(str(path))
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url, timeout=30)


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def test_two_uploads_of_one_name_are_two_documents(page: Page, tmp_path: Path) -> None:
    first = _write(tmp_path / "a" / "moths.txt", "Luna moths have no mouths as adults.\n")
    second = _write(tmp_path / "b" / "moths.txt", "Atlas moths have the largest wings.\n")
    _upload(page, first)
    status, table = _upload(page, second)
    assert "moths.txt: indexed" in status
    moths = [d for d in page.engine.documents() if d.path.endswith("moths.txt")]
    assert len(moths) == 2
    shown = [row[1] for row in table if str(row[1]).endswith("moths.txt")]  # Title, Document, …
    assert len(set(shown)) == 2, shown  # the table tells them apart
    for d in moths:
        page.client().predict(d.doc_id, api_name="/delete")


def test_same_name_in_two_folders(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = _write(tmp_path / "a" / "notes.txt", "The Vantor bridge opened in 1931.\n")
    b = _write(tmp_path / "b" / "notes.txt", "The Kessel tunnel is 4 kilometres long.\n")
    report = engine.ingest([a, b], progress=False)  # both on one command line
    assert report.ok and report.documents == 2
    engine.ingest([tmp_path / "b"], progress=False)  # again, folder by folder
    engine.ingest([tmp_path / "a"], progress=False)
    assert {d.path for d in engine.documents()} == {str(a.resolve()), str(b.resolve())}

    engine._llm = ScriptedLLM("The Vantor bridge opened in 1931 [1].")
    answer = engine.ask("When did the Vantor bridge open?")
    assert [c.name for c in answer.citations] == ["a/notes.txt"]
    assert engine.document_text(answer.citations[0].source).startswith("The Vantor")

    monkeypatch.setenv("ASKAI_STORE__PATH", str(engine.settings.store.path))
    monkeypatch.setenv("ASKAI_EMBEDDER__BACKEND", "torch")  # the fixture's embedder
    del engine
    assert main(["documents"]) == 0
    out = capsys.readouterr().out
    assert "a/notes.txt\t" in out and "b/notes.txt\t" in out


def test_an_index_of_the_old_format_is_refused_not_duplicated(
    tmp_path: Path, embedder: object
) -> None:
    import chromadb

    from askai.index.store import FORMAT_VERSION, build_store

    settings = make_settings(tmp_path)
    client = chromadb.PersistentClient(path=str(settings.store.path),
                                       settings=chromadb.Settings(anonymized_telemetry=False))
    client.create_collection(settings.store.collection, metadata={
        "hnsw:space": "cosine", "askai_format": 3, "embedder": embedder.name,  # type: ignore[attr-defined]
        "dimension": embedder.dimension,  # type: ignore[attr-defined]
    })
    assert FORMAT_VERSION > 3
    with pytest.raises(IndexCorruptError, match="askai ingest --reset"):
        build_store(settings.store, embedder.name, embedder.dimension)  # type: ignore[attr-defined]
