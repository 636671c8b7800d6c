"""One contract, every vector store backend: embedded Chroma and a real Chroma server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import askai
from askai.engine import Engine
from askai.errors import ConfigError
from askai.index.store import (
    TEXT_PIECE_CHARS,
    Chunk,
    DocumentInfo,
    DocumentRecord,
    VectorStore,
    build_store,
)
from askai.settings import Settings

from .conftest import ScriptedLLM
from .servers import chroma_server, free_port


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server") / "data") as port:
        yield port


@pytest.fixture(params=["chroma", "chroma-http"])
def store_settings(request, tmp_path: Path, server_port: int) -> Settings:  # noqa: ANN001
    # a collection of its own per test, so server-side state never leaks between tests
    name = f"t{abs(hash(request.node.nodeid)) % 10**10}"
    store = {"backend": request.param, "path": str(tmp_path / "chroma"), "collection": name,
             "host": "127.0.0.1", "port": server_port}
    return Settings(store=store)  # type: ignore[arg-type]


@pytest.fixture
def store(store_settings: Settings) -> VectorStore:
    return build_store(store_settings.store, "test-embedder", 3)


def _chunk(doc: str, i: int, text: str) -> Chunk:
    return Chunk(doc, i, text, 10 * i, 10 * i + len(text), doc.upper(), "hash-" + doc)


def test_add_count_and_read_back(store: VectorStore) -> None:
    chunks = [_chunk("a", 0, "alpha"), _chunk("a", 1, "beta"), _chunk("b", 0, "gamma")]
    store.add(chunks)
    assert store.count() == 3
    assert store.chunks_of("a") == chunks[:2] and store.chunks_of("b") == chunks[2:]
    store.add([_chunk("a", 1, "beta, again")])  # the same id: replaced, not added
    assert store.count() == 3 and store.chunks_of("a")[1].text == "beta, again"


def test_documents_and_delete(store: VectorStore) -> None:
    store.add([_chunk("a", 0, "alpha"), _chunk("b", 0, "beta")])
    record = DocumentRecord("a", "A", "alpha text", "hash-a", 1, "2026-01-01T00:00:00+00:00")
    store.put_document(record)
    store.put_document(DocumentRecord("b", "B", "beta text", "hash-b", 1, "2026-01-01"))
    assert store.get_document("a") == record
    assert [d.doc_id for d in store.list_documents()] == ["a", "b"]
    store.delete_document("a")
    assert store.get_document("a") is None and store.count() == 1
    assert [c.doc_id for c in store.all_chunks()] == ["b"]
    store.reset()
    assert store.count() == 0 and store.list_documents() == []


def test_sentences_are_stored_searched_and_removed_with_their_document(store: VectorStore) -> None:
    rev0 = store.revision()
    assert store.search_sentences(np.array([1.0, 0, 0], dtype=np.float32), 3) == []
    keys = [("a", 0, 5), ("a", 6, 11), ("b", 0, 4)]
    store.add_sentences(keys, np.eye(3, dtype=np.float32))
    hits = store.search_sentences(np.array([0.0, 0.9, 0.1], dtype=np.float32), 2)
    assert [(h.doc_id, h.start, h.end) for h in hits] == [("a", 6, 11), ("b", 0, 4)]
    assert 0.9 < hits[0].score <= 1.0
    found = store.sentence_vectors([("a", 0, 5), ("b", 0, 4), ("zz", 0, 1)])
    assert set(found) == {("a", 0, 5), ("b", 0, 4)}  # unknown keys are simply absent
    np.testing.assert_allclose(found[("b", 0, 4)], [0, 0, 1])
    store.delete_chunks("a")
    assert store.revision() != rev0  # readers of the store see that it changed
    assert [h.doc_id for h in store.search_sentences(np.array([1.0, 0, 0]), 5)] == ["b"]
    with pytest.raises(ValueError, match="k >= 1"):
        store.search_sentences(np.array([1.0, 0, 0]), 0)


def test_a_long_text_is_stored_in_pieces_and_read_back_whole(store: VectorStore) -> None:
    # a document text over several pieces (no piece boundary falls on a word boundary), then a
    # shorter version of it: the pieces the old one had beyond the new one's are gone
    long = "".join(f"word{i} " for i in range(3 * TEXT_PIECE_CHARS // 7 + 5))
    assert len(long) > 2 * TEXT_PIECE_CHARS
    record = DocumentRecord("a", "A", long, "hash-a", 9, "2026-01-01", status="pending", path="p")
    store.put_documents([record, DocumentRecord("b", "B", "", "hash-b", 0, "2026-01-01")])
    assert store.get_document("a") == record
    assert store.get_document("b").text == ""
    # a listing carries every field but the text (it reads no text)
    assert store.list_documents() == [
        DocumentInfo("a", "A", "hash-a", 9, "2026-01-01", status="pending", path="p"),
        DocumentInfo("b", "B", "hash-b", 0, "2026-01-01")]
    rev = store.revision()
    store.set_status(["a"], "ready")  # the status alone changes, and readers see a new revision
    assert store.get_document("a") == DocumentRecord(
        "a", "A", long, "hash-a", 9, "2026-01-01", status="ready", path="p")
    assert store.revision() != rev and store.ready_documents() == {"a": "hash-a", "b": "hash-b"}
    shorter = long[: TEXT_PIECE_CHARS + 3]
    store.put_document(DocumentRecord("a", "A", shorter, "hash-a2", 2, "2026-01-02"))
    assert store.get_document("a").text == shorter
    assert [d.sha256 for d in store.list_documents()] == ["hash-a2", "hash-b"]
    store.delete_document("a")
    assert store.get_document("a") is None and [d.doc_id for d in store.list_documents()] == ["b"]


def test_all_chunks_and_revision(store: VectorStore) -> None:
    chunks = [_chunk("a", i, f"text {i}") for i in range(7)]
    store.add(chunks)
    assert sorted(store.all_chunks(), key=lambda c: c.index) == chunks
    rev = store.revision()
    assert store.revision() == rev  # stable while nothing changes
    store.put_document(DocumentRecord("a", "A", "text", "hash-a", 7, "2026-01-01"))
    assert store.revision() != rev


def test_embedder_mismatch_is_refused(store_settings: Settings) -> None:
    build_store(store_settings.store, "test-embedder", 3)
    with pytest.raises(askai.AskaiError, match="askai ingest --reset"):
        build_store(store_settings.store, "other-embedder", 5)
    build_store(store_settings.store, "other-embedder", 5, reset=True)  # the fix works


def test_ingest_and_ask_end_to_end(store_settings: Settings, embedder, docs: Path) -> None:  # noqa: ANN001
    llm = ScriptedLLM("PLACEHOLDER")
    engine = Engine(store_settings, embedder=embedder, llm=llm)
    report = askai.ingest([docs], engine=engine, progress=False)
    assert report.ok and report.documents == 3
    passages = engine.retrieve("How far away is the lighthouse lamp visible?")
    n = next(i for i, p in enumerate(passages, 1) if "31 kilometres" in p.text)
    llm.reply = f"The lamp is visible from 31 kilometres away [{n}]."
    answer = askai.ask("How far away is the lighthouse lamp visible?", engine=engine)
    assert not answer.refused and answer.citations[0].name == "lighthouse.txt"
    c = answer.citations[0]
    assert engine.document_text(c.source)[c.start : c.end] == c.quote
    again = askai.ingest([docs], engine=engine, progress=False)
    assert again.skipped == 3 and again.documents == 0


def test_unreachable_server_is_a_clear_error() -> None:
    settings = Settings(store={"backend": "chroma-http", "port": free_port()})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Cannot reach the Chroma server"):
        build_store(settings.store, "e", 3)
