from __future__ import annotations

from pathlib import Path

from askai.engine import Engine
from askai.ingest.chunking import Chunker

from .conftest import CORPUS


def _id(path: Path) -> str:
    return path.resolve().as_posix()


def _chunk_ids(engine: Engine, doc_id: str) -> list[str]:
    return [c.id for c in engine.store.chunks_of(doc_id)]


def test_ingest_indexes_every_document_with_exact_offsets(engine: Engine, docs: Path) -> None:
    report = engine.ingest([docs], progress=False)
    assert report.ok, report.failed
    assert report.documents == 3 and report.chunks >= 3
    assert engine.store.count() == report.chunks
    # a document is identified by its file's absolute path
    records = {d.doc_id: d for d in engine.documents()}
    assert set(records) == {_id(docs / n) for n in ("lighthouse.txt", "bakery.md", "page.html")}
    records = {Path(k).name: r for k, r in records.items()}
    assert records["bakery.md"].title == "Orvale Bakery"
    assert records["page.html"].title == "Glass Frogs"
    for record in records.values():
        chunks = engine.store.chunks_of(record.doc_id)
        assert len(chunks) == record.chunks
        for chunk in chunks:
            assert record.text[chunk.start : chunk.end] == chunk.text
    # plain text is indexed verbatim: offsets point into the file itself
    assert records["lighthouse.txt"].text == (docs / "lighthouse.txt").read_text()


def test_reingest_skips_unchanged_and_replaces_changed(engine: Engine, docs: Path) -> None:
    engine.ingest([docs], progress=False)
    before = engine.store.count()
    again = engine.ingest([docs], progress=False)
    assert (again.documents, again.skipped, again.chunks) == (0, 3, 0)
    assert engine.store.count() == before

    old_ids = _chunk_ids(engine, _id(docs / "lighthouse.txt"))
    (docs / "lighthouse.txt").write_text("The Harrowgate lighthouse is painted blue.\n")
    changed = engine.ingest([docs], progress=False)
    assert (changed.documents, changed.skipped) == (1, 2)
    chunks = engine.store.chunks_of(_id(docs / "lighthouse.txt"))
    assert [c.text for c in chunks] == ["The Harrowgate lighthouse is painted blue."]
    assert len(old_ids) >= 1 and engine.store.count() == before - len(old_ids) + 1
    hits = engine.store.search(engine.embedder.embed_query("when was the lamp built 1874"), 50)
    assert not any("1874" in h.chunk.text for h in hits), "old chunks must be gone"


def test_a_broken_file_fails_alone_and_loses_nothing(engine: Engine, docs: Path) -> None:
    engine.ingest([docs], progress=False)
    count = engine.store.count()
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (docs / "new.txt").write_text("Tardigrades survive in space for ten days.\n")
    report = engine.ingest([docs], progress=False)
    assert not report.ok
    assert [Path(f.path).name for f in report.failed] == ["broken.pdf"]
    assert "corrupt PDF" in report.failed[0].reason
    assert report.documents == 1 and report.skipped == 3
    assert engine.store.count() == count + 1
    assert {d.doc_id for d in engine.documents()} == {
        _id(docs / n) for n in ("lighthouse.txt", "bakery.md", "page.html", "new.txt")
    }


def test_same_content_under_another_name_is_not_duplicated(engine: Engine, docs: Path) -> None:
    engine.ingest([docs], progress=False)
    count = engine.store.count()
    (docs / "copy.txt").write_bytes((docs / "lighthouse.txt").read_bytes())
    report = engine.ingest([docs], progress=False)
    assert report.documents == 0 and report.skipped == 4
    assert engine.store.count() == count


def test_prune_removes_documents_whose_files_are_gone(engine: Engine, docs: Path) -> None:
    engine.ingest([docs], progress=False)
    bakery = _id(docs / "bakery.md")
    (docs / "bakery.md").unlink()
    assert bakery in {d.doc_id for d in engine.documents()}  # no prune: kept
    engine.ingest([docs], progress=False)
    assert bakery in {d.doc_id for d in engine.documents()}
    report = engine.ingest([docs], prune=True, progress=False)
    assert report.removed == 1
    assert bakery not in {d.doc_id for d in engine.documents()}
    assert engine.store.chunks_of(bakery) == []


def test_reset_empties_the_index(engine: Engine, docs: Path) -> None:
    engine.ingest([docs], progress=False)
    report = engine.ingest([docs / "page.html"], reset=True, progress=False)
    assert report.documents == 1
    assert [d.doc_id for d in engine.documents()] == [_id(docs / "page.html")]


def test_interrupted_document_is_cleaned_up(engine: Engine, docs: Path) -> None:
    """A 'pending' record (a crash between writing chunks and marking the document ready) is
    removed with its chunks on the next run, then the file is ingested again."""
    from dataclasses import replace

    engine.ingest([docs], progress=False)
    clean = engine.store.count()
    record = engine.store.get_document(_id(docs / "bakery.md"))
    engine.store.put_document(replace(record, status="pending"))
    assert record.doc_id not in {d.doc_id for d in engine.documents()}
    report = engine.ingest([docs], progress=False)
    assert report.documents == 1 and report.skipped == 2
    assert engine.store.count() == clean


def test_missing_path_is_reported(engine: Engine, tmp_path: Path) -> None:
    report = engine.ingest([tmp_path / "nope"], progress=False)
    assert not report.ok and report.failed[0].reason == "no such file or folder"


def test_symlink_outside_root_is_refused(engine: Engine, docs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("Outside text that must not be indexed.\n")
    (docs / "link.txt").symlink_to(outside)
    report = engine.ingest([docs], progress=False)
    assert [Path(f.path).name for f in report.failed] == ["link.txt"]
    assert "outside" in report.failed[0].reason


def test_corpus_chunks_fit_the_embedder_and_keep_offsets(embedder) -> None:  # noqa: ANN001
    chunker = Chunker(160, 32, embedder.tokenizer)
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        spans = chunker.split(text, name=path.name)
        assert spans, path
        for span in spans:
            assert text[span.start : span.end] == span.text
            assert len(embedder.tokenizer(span.text)) <= embedder.max_seq_length
        covered = set()
        for span in spans:
            covered.update(range(span.start, span.end))
        non_space = {i for i, ch in enumerate(text) if not ch.isspace()}
        assert non_space <= covered, f"{path.name}: text outside every chunk"
