"""Hybrid retrieval: fusion arithmetic, BM25, stored sentence embeddings, evidence windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from askai.engine import Engine
from askai.grounding import split_sentences
from askai.index.store import Chunk
from askai.ingest.pipeline import sentence_for_embedding
from askai.retrieval import LexicalIndex, fuse


def test_reciprocal_rank_fusion_by_hand() -> None:
    # item 7: 1/(60+1) + 1/(60+2); item 3: 1/(60+2) + 1/(60+1); item 5: 1/(60+1) alone
    fused = fuse([[7, 3], [5, 7, 3]], k=60)
    assert [i for i, _ in fused] == [7, 3, 5]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1][1] == pytest.approx(1 / 62 + 1 / 63)
    assert fused[2][1] == pytest.approx(1 / 61)
    assert fuse([]) == []


def _chunk(doc: str, i: int, start: int, text: str) -> Chunk:
    return Chunk(doc, i, text, start, start + len(text), doc, "h")


def test_lexical_index_ranks_by_shared_words_and_maps_offsets_to_chunks() -> None:
    chunks = [
        _chunk("a", 0, 0, "The harbour crane lifts containers."),
        _chunk("a", 1, 30, "containers. The crane XK-47 was built in Rotterdam."),
        _chunk("b", 0, 0, "Bakers proof their dough overnight."),
    ]
    index = LexicalIndex(chunks)
    assert index.search("Where was the XK-47 crane built?", 5)[0] == 1
    assert index.search("dough", 5) == [2]
    assert index.search("the of and", 5) == []  # stop words only: no lexical evidence
    assert index.search("zeppelin", 5) == []
    assert index.chunks_at("a", 31) == [0, 1]  # the overlap belongs to both chunks
    assert index.chunks_at("a", 70) == [1]
    assert index.chunks_at("b", 99) == [] and index.chunks_at("zz", 0) == []
    assert LexicalIndex([]).search("anything", 3) == []


def test_a_rare_keyword_is_found_and_sentences_come_from_the_store(
    engine: Engine, docs: Path
) -> None:
    (docs / "parts.txt").write_text(
        "Spare parts are ordered every spring.\nPart QX-9917 fits only the 1874 lamp housing.\n"
    )
    engine.ingest([docs], progress=False)
    _, hits = engine.search("QX-9917", 2)
    assert hits[0].chunk.doc_id.endswith("/parts.txt") and hits[0].score == 1.0
    passages = engine.retrieve("Which housing does QX-9917 fit?")
    assert "Part QX-9917 fits only the 1874 lamp housing." in passages[0].text
    # every sentence of every chunk has a stored embedding, the one the embedder gives it (with
    # its section's heading in front, where it has one)
    for record in engine.documents():
        text = engine.document_text(record.doc_id)
        for chunk in engine.store.chunks_of(record.doc_id):
            keys = [(chunk.doc_id, chunk.start + a, chunk.start + b)
                    for a, b in split_sentences(chunk.text)]
            stored = engine.store.sentence_vectors(keys)
            assert set(stored) == set(keys)
            d, a, b = keys[0]
            np.testing.assert_allclose(
                stored[keys[0]],
                engine.embedder.embed_documents(
                    [sentence_for_embedding(text[a:b], chunk.section)]
                )[0],
                atol=1e-4,
            )


def test_the_lexical_index_follows_writes(engine: Engine, docs: Path) -> None:
    engine.ingest([docs], progress=False)
    assert engine.retriever.lexical().search("tardigrades", 3) == []
    (docs / "new.txt").write_text("Tardigrades survive in space for ten days.\n")
    engine.ingest([docs], progress=False)
    found = engine.retriever.lexical()
    new = (docs / "new.txt").resolve().as_posix()
    assert [found.chunks[i].doc_id for i in found.search("tardigrades", 3)] == [new]
    engine.delete_document(new)
    assert engine.retriever.lexical().search("tardigrades", 3) == []


def test_evidence_windows_add_context_to_pronouns_and_headings(
    engine: Engine, tmp_path: Path
) -> None:
    engine.settings.retrieval.max_sources = 1  # one window: what it holds is the rule's doing
    root = tmp_path / "w"
    root.mkdir()
    (root / "faq.md").write_text(
        "Export rules were tightened in 2022. Instead, they spurred a shift to small chiplets.\n\n"
        "What do the chiplets replace?\n\nThey replace one large die with four small ones.\n"
    )
    engine.ingest([root], progress=False)
    texts = [p.text for p in engine.retrieve("What spurred the shift to small chiplets?")]
    assert texts == [
        "Export rules were tightened in 2022. Instead, they spurred a shift to small chiplets."
    ]
    texts = [p.text for p in engine.retrieve("What do the chiplets replace?")]
    assert texts == [
        "What do the chiplets replace?\n\nThey replace one large die with four small ones."
    ]
