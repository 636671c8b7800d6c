"""Ingest throughput: askai against the plain llama-index ingestion pipeline, on the same files in
the same run.

Corpora: ``shipped`` (ingest/corpus, 5 .txt files) or ``python-doc`` (Debian's python3.11-doc
HTML under /usr/share/doc/python3.11/html, hidden and ``_``-prefixed folders such as _static and
_sources skipped, as askai's discovery skips them). The first ``--limit-files`` files in sorted
order are copied into one temporary folder; both systems read exactly those copies (copies, not
symlinks: askai refuses links that point outside the folder it ingests).

Each system runs in its own child process, one after the other, so one's memory never counts for
the other; the files are read once beforehand so both start from a warm page cache. In each child
the embedding model is loaded and warmed on one text before the clock starts; the clock covers
reading, parsing, chunking, embedding and writing to an embedded Chroma store in a fresh temp dir:

* askai: ``Engine(Settings(store={"path": tmp})).ingest([folder], progress=False)`` (160-token
  chunks, every sentence embedded, chunk vector = mean of its sentences').
* plain: ``SimpleDirectoryReader(input_files=...)`` → ``IngestionPipeline(transformations=[
  SentenceSplitter(chunk_size=1024, chunk_overlap=200), embedding], vector_store=
  ChromaVectorStore)`` on a ``chromadb.PersistentClient``. The embedding is a llama-index
  ``BaseEmbedding`` wrapping askai's own embedder object, as askai.eval.baseline does: the same
  all-MiniLM-L6-v2, batch 32, on askai's configured embedder backend (torch by default;
  ``--embedder-backend`` sets it for both systems). With no llama-index file readers installed,
  SimpleDirectoryReader reads .html as raw text (tags included): that is the library default and
  is recorded as such. MiniLM reads at most 256 tokens, so the plain pipeline's 1024-token chunks
  are embedded from their first 256 tokens only (the embedder truncates), while askai embeds
  every sentence (``sentences_embedded``).

Recorded per system: documents, chunks, seconds, documents/s, chunks/s, chunk tokens/s, mean
tokens per chunk (MiniLM tokenizer, no special tokens, chunk text only), characters of text
indexed, peak RSS after loading the model and after ingesting (ru_maxrss of the child), and the
askai/plain ratios of documents/s and chunks/s. Chunk sizes differ (askai 160 MiniLM tokens, the
plain pipeline 1024 tiktoken tokens, overlaps too), so chunks/s alone is not like for like:
documents/s is, and chunk tokens/s shows the volume of chunk text each system produced per second.

    .venv/bin/python bench/ingest_throughput.py --corpus shipped
    .venv/bin/python bench/ingest_throughput.py --corpus python-doc [--limit-files N]
        →  bench/results/ingest_<corpus>.json and .png
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import (
    PYTHON_DOC,
    RESULTS,
    SHIPPED_CORPUS,
    embedder_settings,
    machine,
    minilm_token_counter,
    peak_rss_mb,
    pyplot,
    python_doc_files,
    write_json,
)

SYSTEMS = ("askai", "plain")


# -- children: one system each ------------------------------------------------------------------
def _token_stats(texts: list[str]) -> dict[str, float]:
    count = minilm_token_counter()
    counts = [count(t) for t in texts]
    total = sum(counts)
    return {"chunk_tokens": total, "mean_tokens_per_chunk": round(total / len(counts), 1)
            if counts else 0.0, "max_tokens_per_chunk": max(counts, default=0)}


def run_askai(folder: Path, files: list[Path], work: Path) -> dict[str, Any]:
    from askai.engine import Engine
    from askai.ingest.pipeline import chunk_sentences
    from askai.settings import Settings

    engine = Engine(Settings(store={"path": str(work / "askai-chroma")}))
    engine.embedder.embed_documents(["warm up"])
    setup_rss = peak_rss_mb()
    t0 = time.perf_counter()
    report = engine.ingest([folder], progress=False)
    seconds = time.perf_counter() - t0
    rss = peak_rss_mb()
    chunks = list(engine.store.all_chunks())
    texts = [c.text for c in chunks]
    sentences = {k for c in chunks for k in chunk_sentences(c.doc_id, c.text, c.start)}
    return {
        "documents": report.documents, "chunks": report.chunks, "seconds": seconds,
        "stored_chunks": engine.store.count(), "sentences_embedded": len(sentences),
        "failed": [f"{f.path}: {f.reason}" for f in report.failed], "skipped": report.skipped,
        "text_chars": sum(len(d.text) for d in engine.documents()),
        "peak_rss_setup_mb": setup_rss, "peak_rss_mb": rss,
        "embedder": engine.embedder.name,
        "embedder_backend": getattr(engine.settings.embedder, "backend", "torch"),
        **_token_stats(texts),
    }


def run_plain(folder: Path, files: list[Path], work: Path) -> dict[str, Any]:
    import chromadb
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from askai.eval.baseline import llama_index_embedding
    from askai.index.embedder import build_embedder

    settings = embedder_settings()
    embedder = build_embedder(settings)
    embedder.embed_documents(["warm up"])
    client = chromadb.PersistentClient(
        path=str(work / "plain-chroma"), settings=chromadb.Settings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection("plain")
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=1024, chunk_overlap=200),
                         llama_index_embedding(embedder, batch_size=32)],
    )
    store = ChromaVectorStore(chroma_collection=collection)
    setup_rss = peak_rss_mb()
    t0 = time.perf_counter()
    docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
    nodes = pipeline.run(documents=docs, show_progress=False)
    # IngestionPipeline(vector_store=...) hands Chroma every node in one call, which Chroma
    # refuses past its max batch size (5461 here): add them in batches it accepts.
    step = int(client.get_max_batch_size())
    for i in range(0, len(nodes), step):
        store.add(nodes[i : i + step])
    seconds = time.perf_counter() - t0
    rss = peak_rss_mb()
    return {
        "documents": len(docs), "chunks": len(nodes), "seconds": seconds,
        "stored_chunks": collection.count(), "failed": [], "skipped": 0,
        "text_chars": sum(len(d.text) for d in docs),
        "peak_rss_setup_mb": setup_rss, "peak_rss_mb": rss,
        "embedder": embedder.name, "embedder_backend": getattr(settings, "backend", "torch"),
        **_token_stats([n.get_content() for n in nodes]),
    }


def child(system: str, folder: Path, listing: Path, result: Path) -> None:
    files = [Path(p) for p in json.loads(listing.read_text())]
    work = Path(tempfile.mkdtemp(prefix=f"askai-bench-{system}-"))
    try:
        run = run_askai if system == "askai" else run_plain
        result.write_text(json.dumps(run(folder, files, work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- parent ---------------------------------------------------------------------------------------
def select(corpus: str, limit: int | None) -> tuple[Path, list[Path]]:
    if corpus == "shipped":
        root, files = SHIPPED_CORPUS, sorted(SHIPPED_CORPUS.glob("*.txt"))
    else:
        root, files = PYTHON_DOC, python_doc_files(PYTHON_DOC)
    return root, files[:limit] if limit else files


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    s = raw["seconds"]
    return {
        **{k: v for k, v in raw.items() if k != "seconds"},
        "seconds": round(s, 3),
        "documents_per_s": round(raw["documents"] / s, 3) if s else None,
        "chunks_per_s": round(raw["chunks"] / s, 2) if s else None,
        "chunk_tokens_per_s": round(raw["chunk_tokens"] / s, 1) if s else None,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    systems = [s for s in SYSTEMS if s in result["systems"]]
    panels = [("documents_per_s", "documents / s"), ("chunks_per_s", "chunks / s"),
              ("chunk_tokens_per_s", "chunk tokens / s"), ("peak_rss_mb", "peak RSS (MB)"),
              ("mean_tokens_per_chunk", "mean MiniLM tokens / chunk"), ("seconds", "seconds")]
    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    for ax, (key, label) in zip(axes.flat, panels, strict=True):
        values = [result["systems"][s][key] or 0 for s in systems]
        bars = ax.bar(systems, values, color=["tab:blue", "tab:orange"][: len(systems)])
        ax.bar_label(bars, fmt="%.4g", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.margins(y=0.15)
    fig.suptitle(f"Ingest throughput, {result['corpus']} corpus ({result['files']} files): "
                 "askai vs plain llama-index", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=["shipped", "python-doc"], default="shipped")
    parser.add_argument("--limit-files", type=int, default=None,
                        help="only the first N files in sorted order (default: all)")
    parser.add_argument("--embedder-backend", choices=["torch", "onnx", "onnx-int8"],
                        help="askai's embedder backend, for both systems (default: as configured, "
                             "ASKAI_EMBEDDER__BACKEND or torch)")
    parser.add_argument("--systems", default="askai,plain", help="which to run, in this order")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON path (default bench/results/ingest_<corpus>.json; the PNG goes "
                             "next to it)")
    parser.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--listing", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folder, args.listing, args.result)
        return 0

    if args.embedder_backend:  # the children read it like any askai setting
        os.environ["ASKAI_EMBEDDER__BACKEND"] = args.embedder_backend
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if not systems or any(s not in SYSTEMS for s in systems):
        parser.error(f"--systems takes a comma list of {', '.join(SYSTEMS)}")
    out = args.out or RESULTS / f"ingest_{args.corpus}.json"
    source_root, sources = select(args.corpus, args.limit_files)
    if not sources:
        raise SystemExit(f"No files found for the {args.corpus} corpus")

    tmp = Path(tempfile.mkdtemp(prefix="askai-bench-ingest-"))
    try:
        folder = tmp / "corpus"
        files = []
        for src in sources:
            dst = folder / src.relative_to(source_root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            files.append(dst)
        for f in files:  # warm the page cache for both systems alike
            f.read_bytes()
        listing = tmp / "files.json"
        listing.write_text(json.dumps([str(f) for f in files]))
        result: dict[str, Any] = {
            "benchmark": "ingest_throughput", "corpus": args.corpus,
            "source": str(source_root), "files": len(files),
            "input_bytes": sum(f.stat().st_size for f in files),
            "method": (
                "Both systems ingest the same copied files, each in its own child process (peak "
                "RSS = the child's ru_maxrss), model loaded and warmed before timing; seconds = "
                "read + parse + chunk + embed + write to a fresh embedded Chroma store. askai: "
                "Engine.ingest (160-token chunks, sentence embeddings). plain: "
                "SimpleDirectoryReader -> IngestionPipeline[SentenceSplitter(1024, 200), "
                "BaseEmbedding wrapping askai's embedder (same model, same backend)] -> "
                "ChromaVectorStore; .html is "
                "read as raw text (no llama-index HTML reader installed); MiniLM truncates its "
                "1024-token chunks to 256 tokens when embedding. Tokens per chunk: MiniLM "
                "tokenizer, chunk text only, no special tokens. Single run."
            ),
            "machine": machine(), "systems": {},
        }
        for system in systems:
            done = tmp / f"{system}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", system,
                   "--folder", str(folder), "--listing", str(listing), "--result", str(done)]
            print(f"[ingest_throughput] {system}: {len(files)} files ...", flush=True)
            subprocess.run(cmd, check=True)
            result["systems"][system] = summarise(json.loads(done.read_text()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    a, p = result["systems"].get("askai"), result["systems"].get("plain")
    if a and p:
        result["ratio_askai_over_plain"] = {
            key: round(a[key] / p[key], 3) if a[key] and p[key] else None
            for key in ("documents_per_s", "chunks_per_s", "chunk_tokens_per_s")
        }
    write_json(out, result)
    plot(result, out.with_suffix(".png"))
    print(json.dumps({k: v for k, v in result.items() if k not in ("method", "machine")},
                     indent=2))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
