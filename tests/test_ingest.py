from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from askai.engine import Engine
from askai.ingest import pipeline
from askai.ingest.chunking import MAX_PIECE_CHARS, Chunker, pieces

from .conftest import CORPUS, make_settings
from .pdfs import encrypted, text_pdf


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
        text = engine.document_text(record.doc_id)
        for chunk in chunks:
            assert text[chunk.start : chunk.end] == chunk.text
    # plain text is indexed verbatim: offsets point into the file itself
    lighthouse = records["lighthouse.txt"].doc_id
    assert engine.document_text(lighthouse) == (docs / "lighthouse.txt").read_text()


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
    assert not any("1874" in c.text for c in engine.store.all_chunks()), "old chunks must be gone"
    hits = engine.store.search_sentences(engine.embedder.embed_query("lamp built 1874"), 50)
    assert all(h.start < len("The Harrowgate lighthouse is painted blue.") for h in hits
               if h.doc_id == _id(docs / "lighthouse.txt")), "old sentences must be gone"


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


def test_files_that_are_not_what_they_seem_fail_alone(engine: Engine, docs: Path) -> None:
    """An AES PDF that opens without a password and UTF-16 text are read; a PDF that needs a
    password, a corrupt one and HTML that breaks its parser (nesting too deep for it) are each
    one file's error, and the files after them are still ingested."""
    (docs / "aes.pdf").write_bytes(encrypted(text_pdf("Quokkas live on Rottnest Island.")))
    (docs / "b-secret.pdf").write_bytes(encrypted(text_pdf("Secret."), user_password="pw"))
    (docs / "c-corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    (docs / "d-deep.html").write_text(
        "<html><body>" + "<div>" * 20_000 + "Too deep." + "</div>" * 20_000 + "</body></html>"
    )
    (docs / "e-utf16.txt").write_bytes("Tardigrades survive in space.\n".encode("utf-16"))
    (docs / "zz-last.txt").write_text("Glass frogs have translucent skin.\n")
    report = engine.ingest([docs], progress=False)
    failures = {Path(f.path).name: f.reason for f in report.failed}
    assert failures.keys() == {"b-secret.pdf", "c-corrupt.pdf", "d-deep.html"}
    assert "password-protected" in failures["b-secret.pdf"]
    assert "corrupt" not in failures["b-secret.pdf"]
    assert "corrupt PDF" in failures["c-corrupt.pdf"]
    assert "RecursionError" in failures["d-deep.html"]
    assert {Path(d.doc_id).name for d in engine.documents()} == {
        "lighthouse.txt", "bakery.md", "page.html", "aes.pdf", "e-utf16.txt", "zz-last.txt",
    }
    aes, utf16 = ((docs / n).resolve().as_posix() for n in ("aes.pdf", "e-utf16.txt"))
    assert "Quokkas live on Rottnest Island." in engine.document_text(aes)
    assert engine.document_text(utf16) == "Tardigrades survive in space.\n"


@pytest.mark.parametrize("sentence", [
    "Quokka {} lives on Rottnest Island and eats grass at night ",  # no sentence end at all
    "Quokka {} lives on Rottnest Island. It eats grass at night. ",
])
def test_a_file_with_no_line_breaks_is_chunked_in_bounded_pieces(
    embedder, sentence: str,  # noqa: ANN001
) -> None:
    """A huge file with no line break (the 19 MB one took 15 minutes and 3.1 GB) is cut into
    bounded pieces before the splitter: no tokenizer or sentence-splitter call sees more than
    MAX_PIECE_CHARS, so time and memory grow linearly (bench/long_line.py measures them)."""
    seen: list[int] = []

    def tokenizer(text: str) -> list[int]:
        seen.append(len(text))
        return embedder.tokenizer(text)

    text = "".join(sentence.format(i) for i in range(3 * MAX_PIECE_CHARS // len(sentence)))
    spans = Chunker(160, 32, tokenizer).split(text, name="long.txt")
    assert max(seen) <= MAX_PIECE_CHARS
    assert all(text[s.start:s.end] == s.text for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(text.rstrip())
    assert all(not text[a.end:b.start].strip() for a, b in itertools.pairwise(spans))  # no gap
    assert max(len(embedder.tokenizer(s.text)) for s in spans) <= 160


def test_pieces_are_cut_at_paragraph_then_sentence_then_space() -> None:
    text = "a b. " * 10 + "\n\n" + "c d e. " * 10
    assert pieces(text, 0, len(text), limit=60) == [(0, 52), (52, 108), (108, 122)]
    text = "word " * 30
    assert pieces(text, 0, len(text), limit=42) == [(0, 40), (40, 80), (80, 120), (120, 150)]
    text = "x" * 100
    assert pieces(text, 0, 100, limit=40) == [(0, 40), (40, 80), (80, 100)]


def test_a_long_document_is_embedded_and_written_in_bounded_parts(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """However long one document is, its chunks are embedded and written PART_CHUNKS at a
    time (not all its vectors at once), and the index is the same as when written in one go."""
    text = " ".join(f"Fact {i}: quokka number {i} eats {i % 7} leaves." for i in range(400))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "long.txt").write_text(text)
    calls: list[int] = []

    class Recording:
        def __init__(self) -> None:
            self.name, self.dimension = embedder.name, embedder.dimension
            self.tokenizer, self.max_seq_length = embedder.tokenizer, embedder.max_seq_length

        def embed_documents(self, texts):  # noqa: ANN001, ANN202
            calls.append(len(texts))
            return embedder.embed_documents(texts)

        def embed_query(self, text):  # noqa: ANN001, ANN202
            return embedder.embed_query(text)

    whole = Engine(make_settings(tmp_path / "whole"), embedder=embedder)
    whole.ingest([tmp_path / "docs"], progress=False)
    monkeypatch.setattr(pipeline, "PART_CHUNKS", 4)
    parts = Engine(make_settings(tmp_path / "parts"), embedder=Recording())  # type: ignore[arg-type]
    report = parts.ingest([tmp_path / "docs"], progress=False)
    doc = (tmp_path / "docs" / "long.txt").resolve().as_posix()  # a document is its path
    chunks = parts.store.chunks_of(doc)
    assert report.ok and report.chunks == len(chunks) > 12
    assert max(calls) <= 4 * max(len(pipeline.chunk_sentences("d", c.text, 0)) for c in chunks)
    assert [c.text for c in chunks] == [c.text for c in whole.store.chunks_of(doc)]
    keys = list(dict.fromkeys(
        k for c in chunks for k in pipeline.chunk_sentences(doc, c.text, c.start)
    ))
    a, b = whole.store.sentence_vectors(keys), parts.store.sentence_vectors(keys)
    assert a.keys() == b.keys() == set(keys)
    assert all(np.allclose(a[k], b[k], atol=1e-5) for k in keys)
    query = embedder.embed_query("How many leaves does quokka 123 eat?")
    def found(engine: Engine) -> list[tuple[int, int, float]]:
        return [(h.start, h.end, round(h.score, 4))
                for h in engine.store.search_sentences(query, 5)]

    assert found(whole) == found(parts)
    assert [h.chunk.id for h in whole.retriever.retrieve("quokka 123", 4).hits] == [
        h.chunk.id for h in parts.retriever.retrieve("quokka 123", 4).hits]
    assert [d.status for d in parts.store.list_documents()] == ["ready"]


def test_chinese_without_spaces_is_cut_at_a_sentence_end() -> None:
    text = "人工智能发展迅速。" * 10
    assert pieces(text, 0, len(text), limit=40) == [(0, 36), (36, 72), (72, 90)]
