"""The eval corpora: gold quotes located in askai's extracted text, corpus folders filled from
the Debian packages by manifest, retrieval hits matched by quote, the combined report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from askai.errors import ConfigError
from askai.eval.corpora import (
    CORPORA,
    EvalCorpus,
    corpora,
    find_quote,
    locate_evidence,
    normalize,
    quote_in,
)
from askai.eval.dataset import Evidence, Item, load_items
from askai.eval.report import write_combined
from askai.eval.runner import gold_rank, score_row
from askai.ingest.loaders import load_file

ROOT = Path(__file__).resolve().parents[1]


def test_find_quote_ignores_whitespace_ligatures_and_dashes() -> None:
    text = "Intro.\nThe ﬁle is read  line\nby line – slowly.\n"
    start, end = find_quote(text, "The file is read line by line - slowly.")
    assert text[start:end] == "The ﬁle is read  line\nby line – slowly."
    assert find_quote(text, "Intro.") == (0, 6)
    assert find_quote(text, "not there") is None


def test_locate_evidence_fills_offsets_and_names_a_missing_quote() -> None:
    texts = {"a.html": "Heading\n\nThe default is 1000 frames."}
    item = Item("x1", "answerable", "single", "q?", "r", [["1000"]],
                [Evidence("a.html", "The default is  1000 frames.", -1, -1)])
    (located,) = locate_evidence([item], texts.__getitem__)
    e = located.evidence[0]
    assert texts["a.html"][e.start:e.end] == e.quote == "The default is 1000 frames."
    bad = Item("x2", "answerable", "single", "q?", "r", [["1"]],
               [Evidence("a.html", "never written", -1, -1)])
    with pytest.raises(ConfigError, match="x2"):
        locate_evidence([bad], texts.__getitem__)


def test_quote_in_matches_a_chunk_cut_through_the_quote() -> None:
    quote = "The recursion limit defaults to one thousand frames on every platform."
    assert quote_in("... The recursion limit  defaults to one thousand frames on every", quote)
    assert quote_in("to one thousand frames on every platform. Next.", quote)
    assert not quote_in("The recursion limit is documented elsewhere.", quote)


def test_gold_rank_uses_retrieved_texts_when_rows_keep_them() -> None:
    item = Item("x", "answerable", "single", "q?", "r", [["1000"]],
                [Evidence("a.html", "The default is 1000 frames.", -1, -1)])
    row = {"retrieved": [["b.html", 0, 10], ["a.html", 500, 900]],
           "retrieved_text": ["other words", "so. The default is 1000\nframes. And"],
           "citations": [{"source": "a.html"}], "refused": False, "text": "It is 1000 [1]."}
    assert gold_rank(row, item) == 2
    scored = score_row(row, item)
    assert scored["rank"] == 2 and scored["gold_cited"] and scored["facts_ok"]


def test_unknown_corpus_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="python-doc"):
        corpora(["nope"])
    assert [c.name for c in corpora(["all"])] == list(CORPORA)


def test_prepare_copies_the_manifest_and_says_which_package_is_missing(tmp_path: Path) -> None:
    source = tmp_path / "pkg"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "a.html").write_text("<p>A</p>")
    (source / "b.html").write_text("<p>B</p>")
    (source / "not-listed.html").write_text("<p>C</p>")
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("lib/a.html\nb.html\n")
    corpus = EvalCorpus("t", "test", tmp_path / "q.jsonl", tmp_path / "docs", source=source,
                        manifest=manifest, package="some-doc")
    docs = corpus.prepare()
    assert sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*") if p.is_file()) == [
        "b.html", "lib/a.html"]
    missing = EvalCorpus("t", "test", tmp_path / "q.jsonl", tmp_path / "d2",
                         source=tmp_path / "absent", manifest=manifest, package="some-doc")
    with pytest.raises(ConfigError, match="apt-get install some-doc"):
        missing.prepare()


def test_combined_report_pools_corpora(tmp_path: Path) -> None:
    def row(kind: str, ok: bool, refused: bool) -> dict:
        return {"kind": kind, "category": "single", "refused": refused, "facts_ok": ok,
                "claims": [], "precision": [], "citations": [], "rank": 1 if ok else None,
                "gold_cited": ok, "timings": {"total_s": 1.0, "first_token_s": 0.5}}

    rows = {
        "one": {"askai": [row("answerable", True, False), row("unanswerable", False, True)]},
        "two": {"askai": [row("answerable", False, True), row("answerable", True, False)]},
    }
    tradeoffs = {
        "one": {"relevance": [{"min_relevance": 0.4, "correct": 1.0, "false_refusal": 0.0,
                               "hallucinated": 1.0}]},
        "two": {"relevance": [{"min_relevance": 0.4, "correct": 0.5, "false_refusal": 0.5,
                               "hallucinated": 0.0}]},
    }
    md = write_combined(tmp_path, rows, {"one": "first", "two": "second"}, tradeoffs)
    # pooled: correct (1×1 + 0.5×2)/3, false refusals (0 + 0.5×2)/3, hallucinated 1/1
    assert "| 0.4 | 100 / 0 / 100 | 50 / 50 / 0 | 66.7 / 33.3 / 100.0 |" in md
    assert "| metric | one askai | two askai | all askai |" in md
    correct = next(line for line in md.splitlines() if line.startswith("| Correct"))
    assert correct.split("|")[2].strip().startswith("100.0%")
    assert correct.split("|")[3].strip().startswith("50.0%")
    assert correct.split("|")[4].strip().startswith("66.7%")
    assert json.loads((tmp_path / "report.json").read_text())["all/askai"]["items"] == 4


REAL_SETS = [c for c in CORPORA.values() if c.manifest is not None]


@pytest.mark.parametrize("corpus", REAL_SETS, ids=[c.name for c in REAL_SETS])
def test_real_document_sets_are_well_formed(corpus: EvalCorpus) -> None:
    """≥ 60 items, ≥ 25% unanswerable, every gold document in the corpus manifest."""
    items = load_items(ROOT / corpus.questions)
    unanswerable = [i for i in items if not i.answerable]
    assert len(items) >= 60 and len(unanswerable) >= 0.25 * len(items)
    listed = set((ROOT / corpus.manifest).read_text().split())
    for item in items:
        assert all(e.doc in listed for e in item.evidence), item.id


@pytest.mark.parametrize("corpus", REAL_SETS, ids=[c.name for c in REAL_SETS])
def test_every_gold_quote_is_in_askais_text(corpus: EvalCorpus) -> None:
    """Each quote is found in the document as askai's loader extracts it (the eval locates the
    offsets the same way); the packages are installed by .ci/run and `make eval`."""
    if not corpus.source.is_dir():
        pytest.skip(f"{corpus.package} is not installed (`apt-get install {corpus.package}`)")
    items = load_items(ROOT / corpus.questions)
    texts: dict[str, str] = {}

    def text(doc: str) -> str:
        if doc not in texts:
            texts[doc] = load_file(corpus.source / doc, max_bytes=50_000_000).text
        return texts[doc]

    located = locate_evidence(items, text)
    for item in located:
        for e in item.evidence:
            assert normalize(text(e.doc)[e.start:e.end]) == normalize(e.quote)


def test_an_eval_index_of_another_format_is_rebuilt(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],  # noqa: ANN001
) -> None:
    """The eval's corpus index is derived data: after an index format change the eval rebuilds it
    (saying so) instead of stopping with "run askai ingest --reset"."""
    from askai.engine import Engine
    from askai.errors import IndexCorruptError
    from tests.conftest import make_settings

    monkeypatch.setattr("askai.eval.corpora.WORK", tmp_path / "work")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Glass frogs have translucent skin.\n")
    corpus = EvalCorpus("t", "test", tmp_path / "q.jsonl", docs)
    settings = make_settings(tmp_path)
    engine = corpus.engine(settings, docs, embedder=embedder)
    engine.ingest(progress=False)
    collection = engine.store._chunks  # an index written by an older askai
    old = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
    collection.modify(metadata={**old, "askai_format": 3})
    del engine, collection
    with pytest.raises(IndexCorruptError, match="another askai format"):
        Engine(corpus.settings(settings, docs), embedder=embedder)
    rebuilt = corpus.engine(settings, docs, embedder=embedder)
    assert "rebuilding the t index" in capsys.readouterr().err
    assert rebuilt.ingest(progress=False).documents == 1


def test_gold_text_without_the_index_is_what_ingest_stored(tmp_path: Path, embedder) -> None:  # noqa: ANN001
    """The baseline alone (or a report of stored rows) locates gold quotes in the corpus files as
    askai's loader reads them: the same text ingest stores, with no index needed."""
    from askai.eval.main import gold_text, gold_text_from_file
    from tests.conftest import make_settings

    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "sub" / "page.html").write_text(
        "<html><body><h1>Rotation</h1><p>Logs rotate at <code>10 MB</code>.</p>"
        "<ul><li>keep five files</li></ul></body></html>")
    corpus = EvalCorpus("t", "test", tmp_path / "q.jsonl", docs)
    settings = make_settings(tmp_path)
    unindexed = corpus.engine(settings, docs, embedder=embedder)
    from_file = gold_text_from_file(unindexed, "sub/page.html")
    assert "Logs rotate at 10 MB." in from_file  # parsed, not raw HTML
    unindexed.ingest(progress=False)
    indexed = [d.doc_id for d in unindexed.documents()]
    assert from_file == gold_text(unindexed, indexed, "sub/page.html")
    with pytest.raises(ConfigError, match="not in"):
        gold_text_from_file(unindexed, "sub/missing.html")
