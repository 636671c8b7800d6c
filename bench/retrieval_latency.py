"""Retrieval latency against index size: askai's whole retrieval step and ``Engine.search``, p50
and p95 over the eval questions, at 1k / 10k / 100k chunks, on the embedded Chroma store and on a
Chroma server (``chroma run`` on loopback, started and stopped here).

What is timed, per question (after warm-up, one call at a time):

* ``retrieve``: ``engine.retriever.retrieve(question, 4)``: query embedding, store revision check,
  BM25, sentence vector search, reciprocal rank fusion and evidence (sentence) selection, which
  reads the stored sentence vectors of the fused chunks;
* ``search``: ``engine.search(question, 4)``: validation, the store's count, then the same minus
  evidence selection.

How the index is filled: the shipped corpus (ingest/, 5 documents) is ingested normally with real
embeddings, so the eval questions have their real answers. The rest, up to each size, is FILLER
written straight through the store API (``store.add`` chunks, ``store.add_sentences`` sentence
keys, ``store.put_document`` records with status "ready"): each filler chunk is ~5 real sentences
drawn at random from the visible text of the python3.11-doc HTML (or, if that is not installed,
from the shipped corpus), each filler document is ``--chunks-per-doc`` chunks joined by blank
lines, and sentence keys are computed exactly as askai computes them
(``askai.ingest.pipeline.chunk_sentences``), so offsets match the document text. Filler VECTORS ARE
RANDOM unit vectors (dimension 384, seeded), not embeddings: real embeddings for 100k chunks would
take about an hour on a CPU. Dense search cost depends on the number of vectors, not their
values, but random filler vectors sit far from any question, so the nearest neighbours are the
corpus's sentences; BM25 sees real words everywhere. The sizes are built incrementally (1k, then
topped up to 10k, ...); build_s is the cumulative time to reach a size. The first retrieval after
a fill (which also rebuilds the in-memory BM25 index) is reported apart as ``cold_ms``.
``evidence_doc_hit_rate`` is the share of answerable questions whose evidence document is among
the fused chunks: a check that the real answers stay findable.

    .venv/bin/python bench/retrieval_latency.py [--sizes 1000,10000,100000]
        [--backends chroma,chroma-http] [--questions 50]
        →  bench/results/retrieval_latency.json and .png
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import (
    PYTHON_DOC,
    RESULTS,
    ROOT,
    SHIPPED_CORPUS,
    embedder_settings,
    eval_items,
    machine,
    percentiles,
    pyplot,
    python_doc_files,
    spread,
    write_json,
)

DIMENSION = 384
TOP_K = 4
WRITE_BATCH_CHUNKS = 2000


# -- filler ---------------------------------------------------------------------------------------
def sentence_pool(limit: int) -> tuple[list[str], str]:
    """Up to ``limit`` distinct one-line sentences (5-60 words, capitalised, ending in '.', '!' or
    '?') from the python3-doc HTML's visible text, in file order; the shipped corpus otherwise."""
    from askai.grounding import split_sentences
    from askai.ingest.loaders import load_file

    if PYTHON_DOC.is_dir():
        files, source = python_doc_files(PYTHON_DOC), f"python3.11-doc HTML ({PYTHON_DOC})"
    else:
        files, source = sorted(SHIPPED_CORPUS.glob("*.txt")), f"shipped corpus ({SHIPPED_CORPUS})"
    pool: dict[str, None] = {}
    for path in files:
        text = load_file(path, max_bytes=20_000_000).text
        for a, b in split_sentences(text):
            s = text[a:b]
            if ("\n" not in s and 5 <= len(s.split()) <= 60 and s[0].isupper()
                    and s[-1] in ".!?"):
                pool.setdefault(s)
        if len(pool) >= limit:
            break
    return list(pool)[:limit], source


@dataclass
class Filler:
    """Writes filler documents: real sentences, random unit vectors."""

    pool: list[str]
    chunks_per_doc: int
    sentences_per_chunk: int
    rng: np.random.Generator
    docs: int = 0
    sentences: int = 0

    def unit(self, n: int) -> np.ndarray:
        v = self.rng.standard_normal((n, DIMENSION)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def fill(self, store: Any, n_chunks: int) -> None:
        from askai.index.store import Chunk, DocumentRecord
        from askai.ingest.pipeline import chunk_sentences

        chunks: list[Chunk] = []
        keys: list[tuple[str, int, int]] = []
        sentence_vectors: list[np.ndarray] = []
        records: list[DocumentRecord] = []

        def flush() -> None:
            if chunks:
                store.add(chunks)
                store.add_sentences(keys, np.concatenate(sentence_vectors))
            for record in records:
                store.put_document(record)
            for part in (chunks, keys, sentence_vectors, records):
                part.clear()

        left = n_chunks
        while left > 0:
            n = min(self.chunks_per_doc, left)
            left -= n
            self.docs += 1
            doc_id = f"filler/{self.docs:06d}.txt"
            title = f"Filler {self.docs}"
            texts = [
                " ".join(self.pool[i] for i in
                         self.rng.integers(len(self.pool), size=self.sentences_per_chunk))
                for _ in range(n)
            ]
            text = "\n\n".join(texts)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            start = 0
            for index, chunk_text in enumerate(texts):
                end = start + len(chunk_text)
                assert text[start:end] == chunk_text
                chunk_keys = chunk_sentences(doc_id, chunk_text, start)
                chunks.append(Chunk(doc_id, index, chunk_text, start, end, title, digest))
                keys.extend(chunk_keys)
                sentence_vectors.append(self.unit(len(chunk_keys)))
                self.sentences += len(chunk_keys)
                start = end + 2
            records.append(DocumentRecord(
                doc_id=doc_id, title=title, text=text, sha256=digest, chunks=n,
                ingested_at=datetime.now(UTC).isoformat(timespec="seconds"), status="ready",
            ))
            if len(chunks) >= WRITE_BATCH_CHUNKS:
                flush()
        flush()


# -- stores ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def store_settings(backend: str, work: Path, kept: Path | None) -> Iterator[dict[str, Any]]:
    """The ``store`` settings of a store of ``backend`` (a server is started if needed): fresh,
    or with ``kept`` (an embedded store directory kept by an earlier run) the same index: used in
    place by the embedded backend, served from a copy by the server."""
    if backend == "chroma":
        yield {"backend": "chroma", "path": str(kept or work / "chroma"), "collection": "bench"}
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import chroma_server  # tests/servers.py: `chroma run` on a free loopback port

    (work / "server").mkdir(parents=True, exist_ok=True)
    if kept is not None and kept.is_dir():
        t0 = time.perf_counter()
        shutil.copytree(kept, work / "server" / "data")
        print(f"[{backend}] serving a copy of {kept} ({time.perf_counter() - t0:.1f} s to copy)",
              flush=True)
    with chroma_server(work / "server" / "data") as port:
        yield {"backend": "chroma-http", "host": "127.0.0.1", "port": port, "collection": "bench"}


# -- measuring ------------------------------------------------------------------------------------
def time_calls(engine: Any, questions: list[str], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"retrieve": [], "search": []}
    for _ in range(rounds):
        for q in questions:  # interleaved, so drift hits both alike
            t0 = time.perf_counter()
            engine.retriever.retrieve(q, TOP_K)
            times["retrieve"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            engine.search(q, TOP_K)
            times["search"].append(time.perf_counter() - t0)
    return times


def hit_rate(engine: Any, items: list[dict[str, Any]]) -> float | None:
    answerable = [it for it in items if it["kind"] == "answerable" and it.get("evidence")]
    if not answerable:
        return None
    from askai.docnames import same_document

    found = 0
    for it in answerable:
        docs = {h.chunk.doc_id for h in engine.retriever.retrieve(it["question"], TOP_K).hits}
        found += any(same_document(d, e["doc"]) for d in docs for e in it["evidence"])
    return round(found / len(answerable), 3)


def run_backend(
    backend: str, sizes: list[int], embedder: Any, filler: Filler, items: list[dict[str, Any]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    from askai.engine import Engine
    from askai.settings import Settings

    questions = [it["question"] for it in items]
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix=f"askai-bench-{backend}-", dir=args.workdir))
    kept: Path | None = args.keep_store
    reused = kept is not None and kept.is_dir()
    try:
        with store_settings(backend, work, kept) as store:
            engine = Engine(Settings(store=store), embedder=embedder, reset_index=not reused)
            t0 = time.perf_counter()
            if reused:  # documents and filler already there
                filler.docs = sum(d.doc_id.startswith("filler/") for d in engine.documents())
                print(f"[{backend}] reusing {kept}: {engine.store.count()} chunks, "
                      f"{filler.docs} filler documents", flush=True)
            else:
                engine.ingest([ROOT / "ingest"], progress=False)
            built = time.perf_counter() - t0
            corpus_chunks = sum(d.chunks for d in engine.documents()
                                if not d.doc_id.startswith("filler/"))
            print(f"[{backend}] corpus: {corpus_chunks} chunks in {built:.1f} s", flush=True)
            for size in sizes:
                have = engine.store.count()
                if size < have:
                    print(f"[{backend}] skip {size}: the index already holds {have} chunks")
                    continue
                t0 = time.perf_counter()
                filler.fill(engine.store, size - have)
                built += time.perf_counter() - t0
                count = engine.store.count()
                t0 = time.perf_counter()
                engine.retriever.retrieve(questions[0], TOP_K)  # rebuilds the BM25 index
                cold = time.perf_counter() - t0
                for q in questions[: args.warmup]:
                    engine.retriever.retrieve(q, TOP_K)
                    engine.search(q, TOP_K)
                times = time_calls(engine, questions, args.rounds)
                row = {
                    "backend": backend, "size": size, "chunks": count, "reused_store": reused,
                    "corpus_chunks": corpus_chunks, "filler_chunks": count - corpus_chunks,
                    "filler_documents": filler.docs, "build_s": round(built, 2),
                    "cold_ms": round(cold * 1000, 1),
                    "retrieve_ms": percentiles(times["retrieve"], 1000, 1),
                    "search_ms": percentiles(times["search"], 1000, 1),
                    "evidence_doc_hit_rate": hit_rate(engine, items),
                }
                rows.append(row)
                print(f"[{backend}] {count} chunks: retrieve p50 {row['retrieve_ms']['p50']} ms "
                      f"p95 {row['retrieve_ms']['p95']} ms; search p50 {row['search_ms']['p50']} "
                      f"ms (build {built:.1f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if backend == "chroma" and kept is not None:
            print(f"[{backend}] kept the index in {kept} (--keep-store)", flush=True)
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, step in zip(axes, ("retrieve", "search"), strict=True):
        for color, backend in zip(("tab:blue", "tab:orange"), sorted({r["backend"] for r in rows}),
                                  strict=False):
            mine = sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["chunks"])
            x = [r["chunks"] for r in mine]
            ax.plot(x, [r[f"{step}_ms"]["p50"] for r in mine], "o-", color=color,
                    label=f"{backend} p50")
            ax.plot(x, [r[f"{step}_ms"]["p95"] for r in mine], "s--", color=color,
                    label=f"{backend} p95")
        ax.set_xscale("log")
        ax.set_xlabel("chunks in the index (log)")
        ax.set_title(f"engine.{'retriever.retrieve' if step == 'retrieve' else 'search'}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("latency (ms)")
    fig.suptitle("askai retrieval latency vs index size (filler vectors random)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="index sizes in chunks")
    parser.add_argument("--backends", default="chroma,chroma-http")
    parser.add_argument("--questions", type=int, default=50, help="eval questions timed")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the questions")
    parser.add_argument("--warmup", type=int, default=5, help="questions asked before timing")
    parser.add_argument("--chunks-per-doc", type=int, default=25)
    parser.add_argument("--sentences-per-chunk", type=int, default=5)
    parser.add_argument("--pool-sentences", type=int, default=20000,
                        help="distinct real sentences the filler is drawn from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="where the temp stores go")
    parser.add_argument(
        "--keep-store", type=Path, default=None,
        help="embedded index directory kept after the run and reused by the next one (the "
        "Chroma server then serves a copy of it): fill 100k once, measure many times")
    parser.add_argument("--out", type=Path, default=RESULTS / "retrieval_latency.json")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if any(b not in ("chroma", "chroma-http") for b in backends):
        parser.error("--backends takes chroma and/or chroma-http")

    from askai.index.embedder import build_embedder

    host = machine()
    settings = embedder_settings()
    embedder = build_embedder(settings)
    if embedder.dimension != DIMENSION:
        raise SystemExit(f"expected a {DIMENSION}-dim embedder, got {embedder.dimension}")
    embedder.embed_query("warm up")
    items = spread(eval_items(), args.questions)
    t0 = time.perf_counter()
    pool, pool_source = sentence_pool(args.pool_sentences)
    print(f"filler pool: {len(pool)} sentences from {pool_source} in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)

    rows: list[dict[str, Any]] = []
    for backend in backends:
        filler = Filler(pool, args.chunks_per_doc, args.sentences_per_chunk,
                        np.random.default_rng(args.seed))
        rows.extend(run_backend(backend, sizes, embedder, filler, items, args))
    result = {
        "benchmark": "retrieval_latency",
        "method": (
            "Index = the shipped corpus (ingest/, real embeddings) + filler chunks written "
            "directly through the store API up to each size. Filler chunk text = "
            f"{args.sentences_per_chunk} real sentences drawn at random from {pool_source} "
            f"({len(pool)} distinct sentences), {args.chunks_per_doc} chunks per filler document "
            "with sentence keys and offsets consistent with the document text; filler "
            f"sentence VECTORS ARE RANDOM UNIT VECTORS (dim {DIMENSION}, seed {args.seed}), not "
            "embeddings. Timed one call at a time after warm-up: engine.retriever.retrieve(q, 4) "
            "(query embedding, BM25, sentence vector search, fusion, evidence selection) and "
            "engine.search(q, 4); p50/p95 over the questions x rounds. cold_ms = first retrieval "
            "after a fill (includes rebuilding the BM25 index). build_s = cumulative time to "
            "ingest the corpus and write the filler up to that size."
        ),
        "questions": len(items), "rounds": args.rounds, "warmup": args.warmup, "top_k": TOP_K,
        "embedder": embedder.name, "embedder_backend": getattr(settings, "backend", "torch"),
        "sizes": sizes, "backends": backends, "machine": host, "rows": rows,
        "kept_store": str(args.keep_store) if args.keep_store else None,
    }
    write_json(args.out, result)
    if rows:
        plot(rows, args.out.with_suffix(".png"))
    print(json.dumps([{k: r[k] for k in ("backend", "chunks", "build_s", "cold_ms")}
                      | {"retrieve_p50_ms": r["retrieve_ms"]["p50"],
                         "retrieve_p95_ms": r["retrieve_ms"]["p95"],
                         "search_p50_ms": r["search_ms"]["p50"],
                         "search_p95_ms": r["search_ms"]["p95"],
                         "hit_rate": r["evidence_doc_hit_rate"]} for r in rows], indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
