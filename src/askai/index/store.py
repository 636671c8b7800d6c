"""The vector-store seam: a small protocol and the Chroma adapter.

The store keeps four collections: ``<name>`` holds chunks (text, document id, offsets, section,
locations; no vector of their own: retrieval ranks chunks by their sentences and by BM25, and a
chunk vector per chunk cost ~60 MB of HNSW memory for a 19 MB file while nothing searched it),
``<name>__sentences`` one embedding per sentence of every chunk (what dense retrieval
searches and evidence selection scores, so nothing is embedded at question time but the question),
``<name>__documents`` one record per document (content hash, chunk count, status) and
``<name>__texts`` its full ingested text, in pieces of ``TEXT_PIECE_CHARS`` (one Chroma record per
document made a 19 MB text cost some 300 MB of memory each time it was written: Chroma copies it
several times and indexes it for full-text search in one go; in pieces, written a few at a
time, that is bounded). The documents collection's metadata carries a revision that changes with
every write, so readers (the in-memory lexical index) know when to reload.

The document record is the commit point of an ingest: it is written as ``pending`` before the
chunks and flipped to ``ready`` after them, so a crash mid-document leaves a ``pending`` record
whose chunks (and sentences) the next ingest removes; readers search only the chunks of ``ready``
documents (:meth:`ChromaStore.ready_documents`), so a document is seen whole or not at all.

An embedded store is shared between processes through an :class:`~askai.index.guard.IndexGuard`
(one writer at a time, readers never during a write call, a reader reopens its client when
another process wrote): callers wrap a whole write operation in :meth:`ChromaStore.writing` and
a whole read (one question's retrieval) in :meth:`ChromaStore.reading`.
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import re
import shutil
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from askai.errors import (
    AskaiError,
    ConfigError,
    IndexCorruptError,
    IndexReadOnlyError,
    StoreWriteError,
)
from askai.grounding import split_sentences
from askai.index.guard import GENERATION_NAME, IndexGuard
from askai.index.readonly import read_only, read_only_cause, read_only_error
from askai.locations import Location, from_json, to_json

if TYPE_CHECKING:
    from askai.settings import StoreSettings

# 2: sentence embeddings; 3: sections (heading paths) of chunks; 4: a document's id is its file's
# absolute path (was: the path under the ingested folder, so a/notes.txt and b/notes.txt collided);
# 5: a chunk's locations (pages, slides, sheet rows; OCR'd PDF pages); 6: a document's text in
# pieces in <name>__texts (was: the document of its record in <name>__documents); 7: chunks
# without vectors of their own (were: their sentences' mean, which nothing searched)
FORMAT_VERSION = 7
TEXT_PIECE_CHARS = 65_536  # characters of a document's text per record of <name>__texts
TEXT_PIECES_PER_CALL = 16  # pieces (~1 MB of text) per write call of the texts collection
# what records looked up by id rather than by vector (chunks, text pieces) carry: Chroma stores a
# vector with every record, and a one-dimensional one costs next to nothing
_NO_VECTOR = [1.0]


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    index: int
    text: str
    start: int
    end: int
    title: str
    doc_hash: str
    section: str = ""  # heading path of the section the chunk lies in
    # the pages, slides or rows it spans: the one in force at its start, then those inside it
    locations: tuple[Location, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.doc_id}#{self.index}"


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # relevance: the retriever's fused score


@dataclass(frozen=True)
class SentenceHit:
    doc_id: str
    start: int  # offsets in the document
    end: int
    score: float  # cosine similarity


SentenceKey = tuple[str, int, int]  # (document id, start, end)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of a chunk's text that get a stored embedding (offsets in ``text``); a chunk
    with no sentence-like text (only symbols) counts as one sentence."""
    return split_sentences(text) or [(0, len(text))]


@dataclass(frozen=True)
class DocumentInfo:
    """What a listing says of a document: everything but its text (:meth:`VectorStore.get_document`
    reads that), so listing an index of many or large documents reads no text."""

    doc_id: str
    title: str
    sha256: str
    chunks: int
    ingested_at: str
    status: str = "ready"
    path: str = ""
    writer: str = ""


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    title: str
    text: str
    sha256: str
    chunks: int
    ingested_at: str
    status: str = "ready"  # "pending" while its chunks are being written
    path: str = ""  # the file it was read from, for --prune
    writer: str = ""  # "host:pid" of the process writing a pending record (server mode cleanup)


@runtime_checkable
class VectorStore(Protocol):
    def add(self, chunks: Sequence[Chunk]) -> None: ...

    def delete_document(self, doc_id: str) -> None: ...

    def delete_chunks(self, doc_id: str) -> None: ...

    def add_sentences(self, keys: Sequence[SentenceKey], embeddings: np.ndarray) -> None: ...

    def search_sentences(self, embedding: np.ndarray, k: int) -> list[SentenceHit]: ...

    def sentence_vectors(self, keys: Sequence[SentenceKey]) -> dict[SentenceKey, np.ndarray]: ...

    def all_chunks(self) -> Iterator[Chunk]: ...

    def revision(self) -> str: ...

    def count(self) -> int: ...

    def put_document(self, record: DocumentRecord) -> None: ...

    def put_documents(self, records: Sequence[DocumentRecord]) -> None: ...

    def set_status(self, doc_ids: Sequence[str], status: str) -> None: ...

    def get_document(self, doc_id: str) -> DocumentRecord | None: ...

    def list_documents(self) -> list[DocumentInfo]: ...

    def ready_documents(self) -> dict[str, str]: ...

    def reset(self) -> None: ...

    def reading(self) -> Any: ...

    def writing(self) -> Any: ...

    def owns_leftover(self, record: DocumentInfo) -> bool: ...


def _read(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a read method inside :meth:`ChromaStore.reading` (nested holds are cheap)."""

    @functools.wraps(method)
    def wrapper(self: ChromaStore, *args: Any, **kwargs: Any) -> Any:
        with self.reading():
            return method(self, *args, **kwargs)

    return wrapper


class ChromaStore:
    """Chroma through any chromadb client (embedded ``PersistentClient`` by default)."""

    def __init__(
        self, client: Any, collection: str, *, embedder_name: str, dimension: int,
        reset: bool = False, guard: IndexGuard | None = None,
        reopen: Callable[[], Any] | None = None, location: str = "",
    ) -> None:
        self._client = client
        self._name = collection
        self._embedder_name = embedder_name
        self._dimension = dimension
        self._guard = guard  # embedded: shared with other processes; server: None
        self._reopen = reopen
        self.location = location or f"collection {collection!r}"
        if reset:
            with self.writing(), self._write_call():
                self._drop()
                self._open()
        else:  # creating the collections the first time is a write
            with guard.exclusive(bump=False) if guard is not None else nullcontext():
                self._open()

    # -- sharing the index with other processes --------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold for one whole read (a question's retrieval): no write call of any process runs
        meanwhile, and the client is reopened first if another process wrote since it opened."""
        guard = self._guard
        if guard is None:
            yield
            return
        while True:
            with ExitStack() as held:
                locked = self._shared(held)
                if not locked or guard.generation() == guard.seen:
                    with guard.local.read():
                        yield
                    return
            # stale: reopen, alone (no write call nor other opener of any process, no thread of
            # this process using the old client), then read
            with guard.exclusive(bump=False), guard.local.write():
                if guard.generation() != guard.seen:
                    self._refresh()

    def _shared(self, held: ExitStack) -> bool:
        """Take the shared side of the reader/writer lock into ``held``; False when the index
        folder is read-only (the lock file cannot be opened): then no process can write to it
        either, and a read needs no lock."""
        assert self._guard is not None
        try:
            held.enter_context(self._guard.shared())
        except (OSError, sqlite3.Error) as exc:
            if read_only(exc, self._guard.folder) is None:
                raise
            return False
        return True

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold for one whole write operation (ingest, delete, reset): one writer at a time;
        another waits up to the lock timeout, then fails naming the holder."""
        if self._guard is None:
            yield
            return
        with ExitStack() as held:
            try:
                held.enter_context(self._guard.writer())
                with self.reading():
                    pass  # catch up with what the previous writer wrote
                self._guard.ensure_reserve()
            except (OSError, sqlite3.Error) as exc:
                # the lock files cannot be made or written: the folder turned read-only
                cause = read_only(exc, self._guard.folder)
                if cause is None:
                    raise
                raise read_only_error(self.location, cause) from exc
            yield

    def owns_leftover(self, record: DocumentInfo) -> bool:
        """May the caller remove this not-ready record and its chunks as a dead writer's
        leftover? Embedded: yes, the caller holds the writer lock, so its writer is gone. Server:
        only if it was written on this host by a process that no longer runs (writers on other
        hosts clean their own)."""
        if self._guard is not None:
            return True
        host, _, pid = record.writer.rpartition(":")
        if host != _HOST or not pid.isdigit():
            return False
        return not _alive(int(pid))

    def _refresh(self) -> None:
        """A new client (chromadb keeps one system per folder and process, with the segments
        it loaded): forget the cached one so the new client loads what is on disk now."""
        if self._reopen is None:
            raise RuntimeError("this store cannot reopen its client")
        generation = self._guard.generation() if self._guard else ""
        if self._guard is not None:
            # not client.close(): another store of this process may share that system, and a
            # system broken by a failed write can hang in close; the old one is dropped with the
            # last reference to it
            _forget(self._guard.folder)
        self._client = self._reopen()
        self._open()
        if self._guard is not None:
            self._guard.seen = generation

    @contextmanager
    def _write_call(self) -> Iterator[None]:
        """One write call: exclusive against every reader; a full disk becomes one clear error
        (and the client, which chromadb leaves unusable after a failed write, is reopened by the
        next read: the generation changed)."""
        guard = self._guard
        try:
            with guard.exclusive() if guard is not None else nullcontext():
                yield
        except AskaiError:
            raise  # already says what happened (e.g. the index is busy)
        except Exception as exc:
            if guard is not None:
                # whatever happened, reopen before the next read, and let no new client of this
                # process share this one's system (chromadb leaves it unusable after a failed
                # write: its log holds a batch it could not apply)
                guard.seen = ""
                _forget(guard.folder)
            # a store that cannot be written (read-only mount, immutable files; SQLite then may
            # say only "unable to open database file") is not damaged: say read-only, and where
            cause = read_only(exc, guard.folder if guard is not None else None)
            if cause is not None:
                raise read_only_error(self.location, cause) from exc
            if _is_disk_full(exc, self._guard.folder if guard is not None else None):
                if guard is not None:
                    guard.release_reserve()  # the space readers need to apply the failed batch
                raise StoreWriteError(
                    f"disk full while writing {self.location}; free some space and run the "
                    "ingest again (the index still holds the documents it had)"
                ) from exc
            raise

    def _open(self) -> None:
        meta = {  # the embedder and dimension of the sentence vectors
            "askai_format": FORMAT_VERSION,
            "embedder": self._embedder_name,
            "dimension": self._dimension,
        }
        try:
            self._chunks = self._client.get_or_create_collection(
                self._name, metadata=meta, embedding_function=None
            )
            self._sentences = self._client.get_or_create_collection(
                self._name + "__sentences", metadata={"hnsw:space": "cosine"},
                embedding_function=None,
            )
            self._docs = self._client.get_or_create_collection(
                self._name + "__documents",
                metadata={"askai_format": FORMAT_VERSION, "revision": uuid.uuid4().hex},
                embedding_function=None,
            )
            self._texts = self._client.get_or_create_collection(
                self._name + "__texts", embedding_function=None
            )
        except Exception as exc:  # chromadb raises many types for a damaged store
            raise damaged(Path(self.location), exc) from exc
        found = self._chunks.metadata or {}
        if found.get("askai_format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"The index was written by another askai format (version "
                f"{found.get('askai_format')!r}, this askai reads {FORMAT_VERSION}); rebuild it "
                "with `askai ingest --reset`."
            )
        if (found.get("embedder"), found.get("dimension")) != (
            self._embedder_name, self._dimension
        ):
            raise IndexCorruptError(
                f"The index was built with the embedder {found.get('embedder')!r} "
                f"({found.get('dimension')} dims) but {self._embedder_name!r} "
                f"({self._dimension} dims) is configured; rebuild it with `askai ingest --reset`."
            )

    def add(self, chunks: Sequence[Chunk]) -> None:
        with self._write_call():
            self._add(chunks)

    def _add(self, chunks: Sequence[Chunk]) -> None:
        step = self._max_batch()
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self._chunks.upsert(
                ids=[c.id for c in part],
                embeddings=[_NO_VECTOR] * len(part),  # looked up by id and document, not by vector
                documents=[c.text for c in part],
                metadatas=[
                    {"doc_id": c.doc_id, "index": c.index, "start": c.start, "end": c.end,
                     "title": c.title, "doc_hash": c.doc_hash, "section": c.section,
                     "locations": to_json(c.locations)}
                    for c in part
                ],
            )

    def add_sentences(self, keys: Sequence[SentenceKey], embeddings: np.ndarray) -> None:
        if len(keys) != len(embeddings):
            raise ValueError(f"{len(keys)} sentences but {len(embeddings)} embeddings")
        with self._write_call():
            self._add_sentences(keys, embeddings)

    def _add_sentences(self, keys: Sequence[SentenceKey], embeddings: np.ndarray) -> None:
        step = self._max_batch()
        for i in range(0, len(keys), step):
            part = keys[i : i + step]
            self._sentences.upsert(
                ids=[_sentence_id(k) for k in part],
                embeddings=np.asarray(embeddings[i : i + step], dtype=np.float32),
                metadatas=[{"doc_id": d, "start": a, "end": b} for d, a, b in part],
            )

    @_read
    def search_sentences(self, embedding: np.ndarray, k: int) -> list[SentenceHit]:
        if k < 1:
            raise ValueError(f"Expected k >= 1, got {k}")
        # no count first: Chroma returns what there is (counting 500k sentences costs ~ms)
        res = self._sentences.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32)],
            n_results=k, include=["metadatas", "distances"],
        )
        return [
            SentenceHit(str(m["doc_id"]), int(m["start"]), int(m["end"]), 1.0 - float(d))
            for m, d in zip(res["metadatas"][0], res["distances"][0], strict=True)
        ]

    @_read
    def sentence_vectors(self, keys: Sequence[SentenceKey]) -> dict[SentenceKey, np.ndarray]:
        if not keys:
            return {}
        res = self._sentences.get(ids=[_sentence_id(k) for k in keys], include=["metadatas",
                                                                                 "embeddings"])
        return {
            (str(m["doc_id"]), int(m["start"]), int(m["end"])): np.asarray(e, dtype=np.float32)
            for m, e in zip(res["metadatas"], res["embeddings"], strict=True)
        }

    def all_chunks(self) -> Iterator[Chunk]:
        """Every chunk, read in pages (all of them inside one read: a consistent set)."""
        page = 5000
        chunks: list[Chunk] = []
        with self.reading():
            for offset in range(0, int(self._chunks.count()), page):
                res = self._chunks.get(include=["documents", "metadatas"], limit=page,
                                       offset=offset)
                chunks += [_chunk_from(t, m)
                           for t, m in zip(res["documents"], res["metadatas"], strict=True)]
        return iter(chunks)

    @_read
    def revision(self) -> str:
        """Changes whenever chunks or documents are written or removed (by any process)."""
        meta = self._client.get_collection(self._name + "__documents").metadata or {}
        return str(meta.get("revision", ""))

    def _bump(self) -> None:
        self._docs.modify(
            metadata={"askai_format": FORMAT_VERSION, "revision": uuid.uuid4().hex}
        )

    def delete_chunks(self, doc_id: str) -> None:
        with self._write_call():
            self._chunks.delete(where={"doc_id": doc_id})
            self._sentences.delete(where={"doc_id": doc_id})
            self._bump()

    def delete_document(self, doc_id: str) -> None:
        """Remove a document: its record first (so it stops being ready), then its chunks."""
        with self._write_call():
            self._docs.delete(ids=[doc_id])
            self._chunks.delete(where={"doc_id": doc_id})
            self._sentences.delete(where={"doc_id": doc_id})
            self._texts.delete(where={"doc_id": doc_id})
            self._bump()

    @_read
    def chunks_of(self, doc_id: str) -> list[Chunk]:
        res = self._chunks.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        pairs = zip(res["documents"], res["metadatas"], strict=True)
        chunks = [_chunk_from(t, m) for t, m in pairs]
        return sorted(chunks, key=lambda c: c.index)

    @_read
    def count(self) -> int:
        return int(self._chunks.count())

    def put_document(self, record: DocumentRecord) -> None:
        self.put_documents([record])

    def put_documents(self, records: Sequence[DocumentRecord]) -> None:
        """Write (or overwrite) several records in one call (each store call has a fixed cost)."""
        if not records:
            return
        with self._write_call():
            self._put_documents(records)

    def _put_documents(self, records: Sequence[DocumentRecord]) -> None:
        # the records first, then their texts: the pipeline writes a record "pending" before
        # anything else of its document, so when a text's pieces are half written (a crash, a
        # full disk) its record already says "pending", and the next ingest removes it with its
        # pieces (delete_document). Texts first left a changed document's old "ready" record
        # pointing at pieces that were gone: an index that no longer opened.
        step = self._max_batch()
        for i in range(0, len(records), step):
            part = records[i : i + step]
            self._docs.upsert(
                ids=[r.doc_id for r in part],
                embeddings=[[1.0]] * len(part),  # the documents collection is looked up by id
                metadatas=[{"title": r.title, "sha256": r.sha256, "chunks": r.chunks,
                            "ingested_at": r.ingested_at, "status": r.status, "path": r.path,
                            "writer": r.writer, "pieces": _pieces(len(r.text))}
                           for r in part],
            )
        self._put_texts(records)
        self._bump()

    def _max_batch(self) -> int:
        """The most records Chroma takes in one write call."""
        return max(1, int(self._client.get_max_batch_size()))

    def _put_texts(self, records: Sequence[DocumentRecord]) -> None:
        """The records' texts as pieces, a few per call (what a longer old version had beyond
        the new one goes)."""
        ids = [r.doc_id for r in records]
        self._texts.delete(where={"doc_id": ids[0]} if len(ids) == 1 else {"doc_id": {"$in": ids}})
        pieces = ((r.doc_id, p, r.text) for r in records for p in range(_pieces(len(r.text))))
        step = min(TEXT_PIECES_PER_CALL, self._max_batch())
        while part := list(itertools.islice(pieces, step)):
            self._texts.upsert(
                ids=[_text_id(d, p) for d, p, _ in part],
                embeddings=[_NO_VECTOR] * len(part),  # looked up by document id
                documents=[t[p * TEXT_PIECE_CHARS : (p + 1) * TEXT_PIECE_CHARS]
                           for _, p, t in part],
                metadatas=[{"doc_id": d, "piece": p} for d, p, _ in part],
            )

    def set_status(self, doc_ids: Sequence[str], status: str) -> None:
        """Set the status of some records (their text and other fields stay as they are)."""
        if not doc_ids:
            return
        with self._write_call():
            step = self._max_batch()
            for i in range(0, len(doc_ids), step):
                part = list(doc_ids[i : i + step])
                self._docs.update(ids=part, metadatas=[{"status": status}] * len(part))
            self._bump()

    def _text_of(self, doc_id: str, meta: dict[str, Any]) -> str:
        """A document's text, joined from its pieces (``meta``: its record's metadata)."""
        res = self._texts.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        found = sorted((int(m["piece"]), t or "")
                       for t, m in zip(res["documents"], res["metadatas"], strict=True))
        complete = [p for p, _ in found] == list(range(int(meta.get("pieces", 0))))
        # a record not ready is a write in flight or a dead writer's leftover: its text may be
        # partial (what is there is returned); nothing reads it but the ingest that removes it
        if not complete and meta.get("status") == "ready":
            raise IndexCorruptError(
                f"The text of {doc_id} in the index at {self.location} is incomplete "
                f"({len(found)} of {meta.get('pieces')} pieces); rebuild it with "
                "`askai ingest --reset`."
            )
        return "".join(t for _, t in found)

    @_read
    def get_document(self, doc_id: str) -> DocumentRecord | None:
        res = self._docs.get(ids=[doc_id], include=["metadatas"])
        if not res["ids"]:
            return None
        meta = res["metadatas"][0]
        return _record_from(doc_id, self._text_of(doc_id, meta), meta)

    @_read
    def list_documents(self) -> list[DocumentInfo]:
        """Every record, ready or not, without texts (sorted by id)."""
        res = self._docs.get(include=["metadatas"])
        return sorted((_info_from(i, m) for i, m in zip(res["ids"], res["metadatas"], strict=True)),
                      key=lambda r: r.doc_id)

    @_read
    def ready_documents(self) -> dict[str, str]:
        """The complete documents (id -> content hash); what readers may search."""
        res = self._docs.get(where={"status": "ready"}, include=["metadatas"])
        return {i: str(m["sha256"]) for i, m in zip(res["ids"], res["metadatas"], strict=True)}

    def _drop(self) -> None:
        existing = {getattr(c, "name", c) for c in self._client.list_collections()}
        for name in (self._name, self._name + "__sentences", self._name + "__documents",
                     self._name + "__texts"):
            if name in existing:
                self._client.delete_collection(name)

    def reset(self) -> None:
        """Remove every chunk and document record (call inside :meth:`writing`)."""
        with self._write_call():
            self._drop()
            self._open()


def _sentence_id(key: SentenceKey) -> str:
    return f"{key[0]}@{key[1]}-{key[2]}"


def _text_id(doc_id: str, piece: int) -> str:
    return f"{doc_id}#{piece}"


def _pieces(length: int) -> int:
    """How many pieces a text of ``length`` characters is stored in (an empty text: none)."""
    return -(-length // TEXT_PIECE_CHARS)


def _chunk_from(text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        doc_id=str(meta["doc_id"]), index=int(meta["index"]), text=text, start=int(meta["start"]),
        end=int(meta["end"]), title=str(meta.get("title", "")), doc_hash=str(meta["doc_hash"]),
        section=str(meta.get("section", "")), locations=from_json(str(meta.get("locations", ""))),
    )


def _info_from(doc_id: str, meta: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        doc_id=doc_id, title=str(meta.get("title", "")), sha256=str(meta["sha256"]),
        chunks=int(meta["chunks"]), ingested_at=str(meta["ingested_at"]),
        status=str(meta.get("status", "ready")), path=str(meta.get("path", "")),
        writer=str(meta.get("writer", "")),
    )


def _record_from(doc_id: str, text: str, meta: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(text=text, **vars(_info_from(doc_id, meta)))


_HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_id() -> str:
    """This process, as recorded on the pending records it writes."""
    return f"{_HOST}:{os.getpid()}"


_DISK_FULL = re.compile(r"no space left|disk is full|ENOSPC", re.I)
_LOW_SPACE = 16 * 1024 * 1024  # bytes: below this, a failed write is taken for a full disk


def _is_disk_full(exc: BaseException, folder: Path | None) -> bool:
    """chromadb reports a full disk as a message rather than an ``OSError`` (sqlite's "database
    or disk is full", or its compactor's "Failed to apply logs ..."): look through the chain, and
    at the free space of the index's file system."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if _DISK_FULL.search(str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    if folder is None:
        return False
    try:
        return shutil.disk_usage(folder).free < _LOW_SPACE
    except OSError:
        return False


_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SQLITE_FILES = ("chroma.sqlite3", "chroma.sqlite3-wal", "chroma.sqlite3-shm",
                 "chroma.sqlite3-journal")


def damaged(path: Path, exc: BaseException) -> IndexCorruptError:
    return IndexCorruptError(
        f"The index at {path} is damaged ({type(exc).__name__}: {str(exc)[:200]}); "
        "`askai ingest --reset` rebuilds it from your documents."
    )


def remove_store_files(path: Path) -> list[Path]:
    """Remove what Chroma and askai's guard wrote in ``path`` (its SQLite files and its
    UUID-named segment folders), nothing else: the folder may hold the user's own files."""
    removed = []
    for entry in sorted(path.iterdir()):
        if entry.name in _SQLITE_FILES or entry.name == GENERATION_NAME:
            entry.unlink()
        elif entry.is_dir() and _SEGMENT_DIR.fullmatch(entry.name):
            shutil.rmtree(entry)
        else:
            continue
        removed.append(entry)
    return removed


def _embedded_chroma(
    settings: StoreSettings, embedder_name: str, dimension: int, reset: bool
) -> VectorStore:
    import chromadb

    path = Path(settings.path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"ASKAI_STORE__PATH {str(path)!r} is a file; it must be a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if (cause := read_only_cause(exc)) is not None:
            raise read_only_error(path, cause) from exc
        raise ConfigError(f"Cannot create the index folder {path} ({exc}); fix "
                          "ASKAI_STORE__PATH") from exc
    guard = IndexGuard(path, settings.lock_timeout_s, settings.reserve_mb * 2**20)
    try:
        return _open_embedded(path, guard, settings, embedder_name, dimension, reset, chromadb)
    except (AskaiError, OSError) as exc:
        if isinstance(exc, IndexReadOnlyError):
            raise
        # the lock files beside the index, or Chroma's own files, cannot be written: read-only
        # (never "damaged, run --reset", which would delete the index if it could)
        cause = read_only(exc, path)
        if cause is not None and not isinstance(exc, (StoreWriteError,)):
            raise read_only_error(path, cause) from exc
        raise


def _open_embedded(
    path: Path, guard: IndexGuard, settings: StoreSettings, embedder_name: str, dimension: int,
    reset: bool, chromadb: Any,
) -> VectorStore:

    def open_client() -> Any:
        return chromadb.PersistentClient(
            path=str(path), settings=chromadb.Settings(anonymized_telemetry=False)
        )

    def build(reset_now: bool) -> ChromaStore:
        # opening writes to Chroma's SQLite file: not while another process writes or opens
        with guard.exclusive(bump=False):
            try:
                client = open_client()
            except Exception as exc:  # noqa: BLE001 - chromadb raises many types when damaged
                _forget(path)
                raise _read_only_or_damaged(path, exc) from exc
            guard.seen = guard.generation()  # the client was just opened: it is current
        try:
            return ChromaStore(
                client, settings.collection, embedder_name=embedder_name, dimension=dimension,
                reset=reset_now, guard=guard, reopen=open_client, location=str(path),
            )
        except (IndexCorruptError, IndexReadOnlyError, StoreWriteError):
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. sqlite's "file is not a database"
            _close(client)
            raise _read_only_or_damaged(path, exc) from exc

    if not reset:
        return build(False)
    with guard.writer():
        try:
            return build(True)
        except StoreWriteError:
            raise
        except IndexCorruptError:
            # too damaged to empty through Chroma: remove its files (never the folder: it may be
            # the user's), then start again, as --reset asked
            remove_store_files(path)
            guard.bump()
            return build(False)


def _read_only_or_damaged(path: Path, exc: BaseException) -> AskaiError:
    """A store that fails to open because it cannot be written is read-only, not damaged: the
    advice to rebuild it with --reset would delete it if it could."""
    cause = read_only(exc, path)
    return read_only_error(path, cause) if cause is not None else damaged(path, exc)


def _forget(path: Path) -> None:
    """chromadb caches its system for a folder before starting it, and keeps it when starting
    fails: drop that one (not the others of this process) so the next open starts afresh."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)


def _close(client: Any) -> None:
    """Release a client that will not be used (chromadb caches one system per folder)."""
    try:
        client.close()
    except Exception:  # noqa: BLE001 - closing a client of a damaged store may fail too
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()


def _http_chroma(
    settings: StoreSettings, embedder_name: str, dimension: int, reset: bool
) -> VectorStore:
    import chromadb

    token = settings.token.get_secret_value()
    where = f"{'https' if settings.ssl else 'http'}://{settings.host}:{settings.port}"
    try:
        client = chromadb.HttpClient(
            host=settings.host, port=settings.port, ssl=settings.ssl,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            settings=chromadb.Settings(anonymized_telemetry=False),
        )
        client.heartbeat()
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise ConfigError(
            f"Cannot reach the Chroma server at {where} ({type(exc).__name__}: {exc}); start one "
            "with `chroma run --path DIR --host 127.0.0.1 --port PORT` or fix ASKAI_STORE__HOST "
            "and ASKAI_STORE__PORT"
        ) from exc
    return ChromaStore(
        client, settings.collection, embedder_name=embedder_name, dimension=dimension, reset=reset
    )


STORE_BACKENDS: dict[str, Callable[[StoreSettings, str, int, bool], VectorStore]] = {
    "chroma": _embedded_chroma,
    "chroma-http": _http_chroma,
}


def build_store(
    settings: StoreSettings, embedder_name: str, dimension: int, *, reset: bool = False
) -> VectorStore:
    """Open the configured store; ``reset=True`` empties it first (even if it cannot be read)."""
    try:
        factory = STORE_BACKENDS[settings.backend]
    except KeyError:
        raise ConfigError(
            f"Unknown store backend {settings.backend!r}; valid: {', '.join(STORE_BACKENDS)}"
        ) from None
    return factory(settings, embedder_name, dimension, reset)
