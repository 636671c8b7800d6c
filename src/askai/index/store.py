"""The vector-store seam: a small protocol and the Chroma adapter.

The store keeps three collections: ``<name>`` holds chunks (text, embedding, document id,
offsets), ``<name>__sentences`` one embedding per sentence of every chunk (what dense retrieval
searches and evidence selection scores, so nothing is embedded at question time but the question),
and ``<name>__documents`` one record per document (its full ingested text, content hash, chunk
count, status). The documents collection's metadata carries a revision that changes with every
write, so readers (the in-memory lexical index) know when to reload.

The document record is the commit point of an ingest: it is written as ``pending`` before the
chunks and flipped to ``ready`` after them, so a crash mid-document leaves a ``pending`` record
whose chunks (and sentences) the next ingest removes.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from askai.errors import ConfigError, IndexCorruptError
from askai.grounding import split_sentences
from askai.index.readonly import read_only_cause, read_only_error, writes

if TYPE_CHECKING:
    from askai.settings import StoreSettings

# 2: sentence embeddings; 3: sections (heading paths) of chunks; 4: a document's id is its file's
# absolute path (was: the path under the ingested folder, so a/notes.txt and b/notes.txt collided)
FORMAT_VERSION = 4


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

    @property
    def id(self) -> str:
        return f"{self.doc_id}#{self.index}"


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # relevance: cosine similarity from the store, fused score from the retriever


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
class DocumentRecord:
    doc_id: str
    title: str
    text: str
    sha256: str
    chunks: int
    ingested_at: str
    status: str = "ready"  # "pending" while its chunks are being written
    path: str = ""  # the file it was read from, for --prune


@runtime_checkable
class VectorStore(Protocol):
    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None: ...

    def delete_document(self, doc_id: str) -> None: ...

    def delete_chunks(self, doc_id: str) -> None: ...

    def search(self, embedding: np.ndarray, k: int) -> list[Hit]: ...

    def add_sentences(self, keys: Sequence[SentenceKey], embeddings: np.ndarray) -> None: ...

    def search_sentences(self, embedding: np.ndarray, k: int) -> list[SentenceHit]: ...

    def sentence_vectors(self, keys: Sequence[SentenceKey]) -> dict[SentenceKey, np.ndarray]: ...

    def all_chunks(self) -> Iterator[Chunk]: ...

    def revision(self) -> str: ...

    def count(self) -> int: ...

    def put_document(self, record: DocumentRecord) -> None: ...

    def put_documents(self, records: Sequence[DocumentRecord]) -> None: ...

    def get_document(self, doc_id: str) -> DocumentRecord | None: ...

    def list_documents(self) -> list[DocumentRecord]: ...

    def reset(self) -> None: ...


class ChromaStore:
    """Chroma through any chromadb client (embedded ``PersistentClient`` by default)."""

    local_path: Path | None = None  # the folder of an embedded store

    def __init__(
        self, client: Any, collection: str, *, embedder_name: str, dimension: int,
        reset: bool = False,
    ) -> None:
        self._client = client
        self._name = collection
        self._embedder_name = embedder_name
        self._dimension = dimension
        if reset:
            self._drop()
        self._open()

    def _open(self) -> None:
        meta = {
            "hnsw:space": "cosine",
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
        except Exception as exc:  # chromadb raises many types for a damaged store
            raise IndexCorruptError(
                f"Cannot open the Chroma collection {self._name!r} ({type(exc).__name__}: {exc}); "
                "rebuild it with `askai ingest --reset`."
            ) from exc
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

    @writes
    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        step = max(1, int(self._client.get_max_batch_size()))
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self._chunks.upsert(
                ids=[c.id for c in part],
                embeddings=np.asarray(embeddings[i : i + step], dtype=np.float32),
                documents=[c.text for c in part],
                metadatas=[
                    {"doc_id": c.doc_id, "index": c.index, "start": c.start, "end": c.end,
                     "title": c.title, "doc_hash": c.doc_hash, "section": c.section}
                    for c in part
                ],
            )

    @writes
    def add_sentences(self, keys: Sequence[SentenceKey], embeddings: np.ndarray) -> None:
        if len(keys) != len(embeddings):
            raise ValueError(f"{len(keys)} sentences but {len(embeddings)} embeddings")
        step = max(1, int(self._client.get_max_batch_size()))
        for i in range(0, len(keys), step):
            part = keys[i : i + step]
            self._sentences.upsert(
                ids=[_sentence_id(k) for k in part],
                embeddings=np.asarray(embeddings[i : i + step], dtype=np.float32),
                metadatas=[{"doc_id": d, "start": a, "end": b} for d, a, b in part],
            )

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
        """Every chunk, read in pages."""
        page = 5000
        for offset in range(0, self.count(), page):
            res = self._chunks.get(include=["documents", "metadatas"], limit=page, offset=offset)
            for text, meta in zip(res["documents"], res["metadatas"], strict=True):
                yield _chunk_from(text, meta)

    def revision(self) -> str:
        """Changes whenever chunks or documents are written or removed (by any process)."""
        meta = self._client.get_collection(self._name + "__documents").metadata or {}
        return str(meta.get("revision", ""))

    def _bump(self) -> None:
        self._docs.modify(
            metadata={"askai_format": FORMAT_VERSION, "revision": uuid.uuid4().hex}
        )

    @writes
    def delete_chunks(self, doc_id: str) -> None:
        self._chunks.delete(where={"doc_id": doc_id})
        self._sentences.delete(where={"doc_id": doc_id})
        self._bump()

    @writes
    def delete_document(self, doc_id: str) -> None:
        """Remove a document's chunks, then its record."""
        self.delete_chunks(doc_id)
        self._docs.delete(ids=[doc_id])
        self._bump()

    def search(self, embedding: np.ndarray, k: int) -> list[Hit]:
        if k < 1:
            raise ValueError(f"Expected k >= 1, got {k}")
        n = self._chunks.count()
        if n == 0:
            return []
        res = self._chunks.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32)],
            n_results=min(k, n),
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for text, meta, dist in zip(
            res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            hits.append(Hit(chunk=_chunk_from(text, meta), score=1.0 - float(dist)))
        return hits

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        res = self._chunks.get(where={"doc_id": doc_id}, include=["documents", "metadatas"])
        pairs = zip(res["documents"], res["metadatas"], strict=True)
        chunks = [_chunk_from(t, m) for t, m in pairs]
        return sorted(chunks, key=lambda c: c.index)

    def count(self) -> int:
        return int(self._chunks.count())

    def put_document(self, record: DocumentRecord) -> None:
        self.put_documents([record])

    @writes
    def put_documents(self, records: Sequence[DocumentRecord]) -> None:
        """Write (or overwrite) several records in one call (each store call has a fixed cost)."""
        if not records:
            return
        step = max(1, int(self._client.get_max_batch_size()))
        for i in range(0, len(records), step):
            part = records[i : i + step]
            self._docs.upsert(
                ids=[r.doc_id for r in part],
                embeddings=[[1.0]] * len(part),  # the documents collection is looked up by id
                documents=[r.text for r in part],
                metadatas=[{"title": r.title, "sha256": r.sha256, "chunks": r.chunks,
                            "ingested_at": r.ingested_at, "status": r.status, "path": r.path}
                           for r in part],
            )
        self._bump()

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        res = self._docs.get(ids=[doc_id], include=["documents", "metadatas"])
        if not res["ids"]:
            return None
        return _record_from(res["ids"][0], res["documents"][0], res["metadatas"][0])

    def list_documents(self) -> list[DocumentRecord]:
        res = self._docs.get(include=["documents", "metadatas"])
        records = [
            _record_from(i, t, m)
            for i, t, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        ]
        return sorted(records, key=lambda r: r.doc_id)

    def _drop(self) -> None:
        existing = {getattr(c, "name", c) for c in self._client.list_collections()}
        for name in (self._name, self._name + "__sentences", self._name + "__documents"):
            if name in existing:
                self._client.delete_collection(name)

    @writes
    def reset(self) -> None:
        """Remove every chunk and document record."""
        self._drop()
        self._open()


def _sentence_id(key: SentenceKey) -> str:
    return f"{key[0]}@{key[1]}-{key[2]}"


def _chunk_from(text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        doc_id=str(meta["doc_id"]), index=int(meta["index"]), text=text, start=int(meta["start"]),
        end=int(meta["end"]), title=str(meta.get("title", "")), doc_hash=str(meta["doc_hash"]),
        section=str(meta.get("section", "")),
    )


def _record_from(doc_id: str, text: str, meta: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        doc_id=doc_id, title=str(meta.get("title", "")), text=text, sha256=str(meta["sha256"]),
        chunks=int(meta["chunks"]), ingested_at=str(meta["ingested_at"]),
        status=str(meta.get("status", "ready")), path=str(meta.get("path", "")),
    )


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
        if (cause := read_only_cause(exc)) is None:
            raise
        raise read_only_error(path, cause) from exc

    def open_client() -> Any:
        return chromadb.PersistentClient(
            path=str(path), settings=chromadb.Settings(anonymized_telemetry=False)
        )

    try:
        client = open_client()
    except Exception as exc:  # noqa: BLE001 - chromadb raises many types for a damaged store
        if (cause := read_only_cause(exc)) is not None:  # not damaged: --reset would not help
            raise read_only_error(path, cause) from exc
        if not (reset and (path / "chroma.sqlite3").is_file()):
            raise IndexCorruptError(
                f"Cannot open the Chroma store at {path} ({type(exc).__name__}: {exc}); "
                "rebuild it with `askai ingest --reset`."
            ) from exc
        from chromadb.api.client import SharedSystemClient

        try:
            shutil.rmtree(path)  # too damaged to open: start again, as --reset asked
        except OSError as gone:
            if (cause := read_only_cause(gone)) is None:
                raise
            raise read_only_error(path, cause) from gone
        SharedSystemClient.clear_system_cache()
        path.mkdir(parents=True)
        client = open_client()
    try:
        store = ChromaStore(client, settings.collection, embedder_name=embedder_name,
                            dimension=dimension, reset=reset)
    except Exception as exc:
        if (cause := read_only_cause(exc)) is None:
            raise
        raise read_only_error(path, cause) from exc
    store.local_path = path  # a write that fails on a read-only folder says so (@writes)
    return store


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
