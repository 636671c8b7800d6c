"""Ingest files into the vector store: load → hash → chunk → embed → write, incrementally.

Each document's content hash is stored with it: unchanged files are skipped, a changed file's old
chunks are replaced, and a file whose content is already indexed under another name is skipped as
a duplicate. Each sentence of a chunk is embedded (once per document, however many overlapping
chunks hold it) and stored; chunks are stored with their text and offsets and no vector of their
own (retrieval ranks them by their sentences and by BM25). Documents are written in batches:
records ``pending`` → delete the old chunks of replaced documents → add the new chunks and
sentences (embedded ``PART_CHUNKS`` chunks at a time, so one huge document never has all
its vectors in memory) → records ``ready``; pending records left by a crash are cleaned up at the
start of the next run (under the writer lock: see askai.index.guard), and readers search only
``ready`` documents, so every document is either fully present or absent.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from askai.errors import IngestError
from askai.index.embedder import Embedder
from askai.index.store import (
    Chunk,
    DocumentRecord,
    SentenceKey,
    VectorStore,
    sentence_spans,
    writer_id,
)
from askai.ingest.chunking import Chunker
from askai.ingest.loaders import IMAGE_SUFFIXES, SUPPORTED_SUFFIXES, load_file
from askai.ingest.structure import PATH_SEPARATOR
from askai.locations import Location, within
from askai.memory import release_free_memory
from askai.types import IngestFailure, IngestReport

# Documents are written in batches of at least BATCH_CHUNKS chunks (one pending → ready cycle of
# their records), and each batch is embedded and written PART_CHUNKS chunks at a time: a 19 MB
# one-line file peaked at 1,016 MB with parts of 256 chunks and at 901 MB with 64, while batches
# of few documents cost many small writes (README "Measured numbers")
BATCH_CHUNKS = 256
PART_CHUNKS = 64


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute, links resolved: what is read
    doc_id: str  # the file's absolute path (links resolved), with forward slashes: two files of
    # the same name in two folders are two documents (shown apart by askai.docnames.short_names)
    shown: str  # the path as found, for messages


def discover(paths: Iterable[str | Path], report: IngestReport) -> list[SourceFile]:
    """Files to ingest under ``paths``. A folder is walked (symlinked folders are not followed,
    hidden and ``_``-prefixed entries and a top-level README.md are skipped, other types are
    ignored, and so are images: a folder's pictures and screenshots are rarely documents, and OCR
    is slow); a file named directly must be of a supported type (an image is then read by OCR)."""
    found: dict[str, SourceFile] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            report.failed.append(IngestFailure(str(raw), "no such file or folder"))
            continue
        path = path.resolve()
        if path.is_file():
            found.setdefault(str(path), SourceFile(path, path.as_posix(), str(raw)))
            continue
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
            for name in sorted(filenames):
                file = Path(dirpath) / name
                suffix = file.suffix.lower()
                if name.startswith((".", "_")) or suffix not in SUPPORTED_SUFFIXES \
                        or suffix in IMAGE_SUFFIXES:
                    continue
                if Path(dirpath) == path and name.lower() == "readme.md":
                    continue  # describes the folder; not a document of the collection
                try:
                    real = file.resolve()
                except (OSError, RuntimeError) as exc:  # a symlink loop
                    report.failed.append(IngestFailure(str(file), f"cannot be resolved: {exc}"))
                    continue
                if not real.is_relative_to(path):
                    report.failed.append(
                        IngestFailure(str(file), f"links outside the ingested folder {path}")
                    )
                    continue
                found.setdefault(str(real), SourceFile(real, real.as_posix(), str(file)))
    return list(found.values())


@dataclass
class _Prepared:
    source: SourceFile
    text: str
    title: str
    sha256: str
    spans: list  # list[TextSpan]
    locations: list[Location]  # where its pages, slides or rows start
    replaces: bool  # an older version is in the index (its chunks are deleted first)


def ingest_files(
    paths: Iterable[str | Path],
    *,
    store: VectorStore,
    embedder: Embedder,
    chunker: Chunker,
    max_file_bytes: int,
    prune: bool = False,
    progress: bool = True,
    ocr: bool = True,
) -> IngestReport:
    report = IngestReport()
    started = time.perf_counter()
    paths = list(paths)
    # Left by an interrupted ingest. The caller holds the store for writing (store.writing()), so
    # no live writer owns a not-ready record of an embedded store; a server's store says which
    # are a dead writer's (owns_leftover).
    for record in store.list_documents():
        if record.status != "ready" and store.owns_leftover(record):
            store.delete_document(record.doc_id)
    files = discover(paths, report)
    existing = {r.doc_id: r for r in store.list_documents()}
    by_hash = {r.sha256: r.doc_id for r in existing.values() if r.status == "ready"}

    def prepared() -> Iterator[_Prepared]:
        for source in _progress(files, progress):
            try:
                loaded = load_file(source.path, max_bytes=max_file_bytes, ocr=ocr)
            except IngestError as exc:
                report.failed.append(IngestFailure(source.shown, exc.reason))
                continue
            digest = hashlib.sha256(loaded.text.encode("utf-8")).hexdigest()
            current = existing.get(source.doc_id)
            owner = by_hash.get(digest)
            unchanged = current and current.status == "ready" and current.sha256 == digest
            if unchanged or (owner and owner != source.doc_id):
                report.skipped += 1  # unchanged, or the same content under another name
                continue
            by_hash[digest] = source.doc_id
            try:
                spans = chunker.split(loaded.text, name=source.shown, sections=loaded.sections)
            except IngestError as exc:
                report.failed.append(IngestFailure(source.shown, exc.reason))
                continue
            yield _Prepared(source, loaded.text, loaded.title, digest, spans, loaded.locations,
                            current is not None)

    batch: list[_Prepared] = []
    for item in prepared():
        batch.append(item)
        if sum(len(b.spans) for b in batch) >= BATCH_CHUNKS:
            _write(batch, store, embedder, report)
            batch = []
    if batch:
        _write(batch, store, embedder, report)

    if prune:
        report.removed = _prune(paths, store)
    report.seconds = time.perf_counter() - started
    return report


def chunk_sentences(doc_id: str, text: str, start: int) -> list[SentenceKey]:
    """The sentences of a chunk (its text, at ``start`` in the document), as document offsets."""
    return [(doc_id, start + a, start + b) for a, b in sentence_spans(text)]


def _write(
    batch: list[_Prepared], store: VectorStore, embedder: Embedder, report: IngestReport
) -> None:
    # The record of every document in the batch is "pending" until all of its chunks and
    # sentences are written, so a crash anywhere in between leaves only pending records, which
    # the next run removes with their chunks.
    records = [
        DocumentRecord(
            doc_id=item.source.doc_id, title=item.title, text=item.text, sha256=item.sha256,
            chunks=len(item.spans), ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
            status="pending", path=str(item.source.path), writer=writer_id(),
        )
        for item in batch
    ]
    store.put_documents(records)
    for item in batch:
        if item.replaces:  # a new document has no chunks: chunks exist only under a record
            store.delete_chunks(item.source.doc_id)
    # Embedded and written PART_CHUNKS chunks at a time, however long one document is,
    # so memory stays bounded (a 19 MB one-line file is 26,246 chunks and ~172,000 sentences).
    carried: set[SentenceKey] = set()
    chunks = 0
    for part in _parts(batch, PART_CHUNKS):
        carried = _write_part(part, store, embedder, carried)
        chunks += len(part)
        # what the part's embedding and writes freed goes back to the system, so a long
        # document's resident memory grows with its index, not with its allocations
        release_free_memory()
    # the status alone: rewriting the records would write their texts again
    store.set_status([r.doc_id for r in records], "ready")
    report.documents += len(records)
    report.chunks += chunks


def _parts(batch: list[_Prepared], size: int) -> Iterator[list[tuple[_Prepared, int]]]:
    """The batch's chunks, as ``(document, chunk index)``, ``size`` at a time."""
    part: list[tuple[_Prepared, int]] = []
    for item in batch:
        for i in range(len(item.spans)):
            part.append((item, i))
            if len(part) == size:
                yield part
                part = []
    if part:
        yield part


def _write_part(
    part: list[tuple[_Prepared, int]], store: VectorStore, embedder: Embedder,
    carried: set[SentenceKey],
) -> set[SentenceKey]:
    """Store some chunks, and embed and store their sentences; ``carried`` holds the sentences
    of the previous part's last chunk (already written: they may open the next chunk too, the
    overlap), and the same of this part is returned."""
    per_chunk = [
        chunk_sentences(item.source.doc_id, item.spans[i].text, item.spans[i].start)
        for item, i in part
    ]
    # a sentence is embedded with the heading it sits under ("str.split(...): The default is
    # -1."): on its own it often does not say what it is about
    framed: dict[SentenceKey, str] = {}
    for (item, i), keys in zip(part, per_chunk, strict=True):
        for key in keys:
            if key not in carried:
                framed.setdefault(
                    key, sentence_for_embedding(item.text[key[1]:key[2]], item.spans[i].section)
                )
    unique = list(framed)
    vectors = embedder.embed_documents([framed[k] for k in unique]) if unique else None
    chunks = [
        Chunk(item.source.doc_id, i, s.text, s.start, s.end, item.title, item.sha256, s.section,
              within(item.locations, s.start, s.end))
        for item, i in part
        for s in (item.spans[i],)
    ]
    if chunks:
        store.add(chunks)
    if vectors is not None:
        store.add_sentences(unique, vectors)
    return set(per_chunk[-1]) if per_chunk else set()


def sentence_for_embedding(sentence: str, section: str) -> str:
    """What is embedded for a sentence: the innermost heading of its section, then the sentence
    (the sentence alone where it has no section)."""
    leaf = section.rsplit(PATH_SEPARATOR, 1)[-1][:80] if section else ""
    return f"{leaf}: {sentence}" if leaf and leaf != sentence else sentence


def _prune(paths: list[str | Path], store: VectorStore) -> int:
    """Remove documents whose source file, under one of ``paths``, is gone."""
    roots = [Path(p).expanduser().resolve() for p in paths]
    removed = 0
    for record in store.list_documents():
        source = Path(record.path) if record.path else None
        if source is None or not any(source.is_relative_to(r) for r in roots):
            continue
        if not source.exists():
            store.delete_document(record.doc_id)
            removed += 1
    return removed


def _progress(files: list[SourceFile], enabled: bool) -> Iterable[SourceFile]:
    if not enabled or len(files) < 20:
        return files
    from tqdm import tqdm

    return tqdm(files, desc="ingest", unit="file")
