"""From a question to the few passages the model sees.

Two rankings of chunks are fused by reciprocal rank fusion: dense (the question's embedding
against every stored sentence embedding; a chunk ranks by its best sentence) and lexical (BM25
over the chunks' words, an in-memory index reloaded when the store's revision changes). Inside
the fused top chunks every sentence is scored (its stored embedding against the question, the
share of the question's words it holds, and its chunk's fused score); the best sentences, each
with a neighbour where it starts with a pronoun, become the numbered passages of the prompt.
Nothing but the question is embedded at question time, and a short prompt keeps the time to
first token low (prompt processing dominates it on a CPU).
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass, replace

import numpy as np

from askai.docnames import short_names
from askai.errors import IndexCorruptError, IndexNotFoundError
from askai.grounding import content_words, terms
from askai.index.embedder import Embedder
from askai.index.store import Chunk, Hit, SentenceKey, VectorStore, sentence_spans
from askai.locations import label_of
from askai.settings import RetrievalSettings
from askai.types import Passage

RRF_K = 60  # the usual reciprocal-rank-fusion constant
# A sentence that refers back ("Instead, they ...") is shown with the sentence before it; a
# heading, a question (an FAQ entry) or a lead-in ending with a colon with the ones after it.
_REFERS_BACK = re.compile(
    r"^(?:\W*\w+,\s+)?(?:they|it|its|this|these|those|their|such|he|she|his|her)\b", re.I
)
_LEADS_IN = re.compile(r"(?:[?:]|[^.!?\"'”’)\]])\s*$")


class LexicalIndex:
    """BM25 over a fixed list of chunks, and which chunks hold a given document offset."""

    def __init__(self, chunks: list[Chunk]) -> None:
        import bm25s

        self.chunks = chunks
        self._by_doc: dict[str, list[tuple[int, int, int]]] = {}  # doc -> (start, end, i) sorted
        for i, c in enumerate(chunks):
            self._by_doc.setdefault(c.doc_id, []).append((c.start, c.end, i))
        self.names = short_names(self._by_doc)  # document id -> the path ending shown for it
        for spans in self._by_doc.values():
            spans.sort()
        self._bm25 = bm25s.BM25()
        if chunks:
            # a chunk is found by its section's headings too: "the default of X" matches the
            # chunk under X's heading, not a sibling section stating another default
            self._bm25.index(
                [terms(f"{c.section}\n{c.text}") or ["\0"] for c in chunks], show_progress=False
            )

    def search(self, question: str, k: int) -> list[int]:
        """Indices of the chunks sharing words with ``question``, best first (at most ``k``)."""
        words = terms(question)
        if not self.chunks or not words:
            return []
        # scores for every chunk, then the top k: bm25s's own retrieve() adds a thread pool and
        # a progress bar per call (~2 ms at 100k chunks)
        scores = self._bm25.get_scores(words)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # best first; ties by chunk order
        return [int(i) for i in top if scores[i] > 0]

    def mentions(self, word: str) -> bool:
        """Does any chunk (or its headings) hold ``word`` (compared as a search term)?"""
        found = terms(word)
        vocab = getattr(self._bm25, "vocab_dict", None) or {}
        return bool(found) and all(t in vocab for t in found)

    def chunks_at(self, doc_id: str, start: int) -> list[int]:
        """Indices of the chunks of ``doc_id`` whose span holds offset ``start``."""
        spans = self._by_doc.get(doc_id, [])
        upto = bisect.bisect_right(spans, (start, float("inf"), 0))
        return [i for s, e, i in spans[max(0, upto - 8) : upto] if s <= start < e]


def fuse(rankings: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: (item, score) best first; score = sum of 1 / (k + rank)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class Retrieval:
    """What one retrieval found: the question's embedding, the fused chunks, the passages."""

    vector: np.ndarray
    hits: list[Hit]
    passages: list[Passage]


class Retriever:
    """Hybrid retrieval over one store; safe to share between threads."""

    def __init__(
        self, store: VectorStore, embedder: Embedder, settings: RetrievalSettings, *,
        location: str = "",
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.location = location  # where the index is, for the empty-index error
        self._lexical: LexicalIndex | None = None
        self._revision: str | None = None
        self._lock = threading.Lock()

    def lexical(self) -> LexicalIndex:
        """The BM25 index, reloaded from the store if anything was written since it was built."""
        with self.store.reading():
            revision = self.store.revision()
            with self._lock:
                if self._lexical is None or revision != self._revision:
                    # only complete documents: a document being written (or left half-written
                    # by a writer that died) is not searched until its record says "ready"
                    ready = self.store.ready_documents()
                    self._lexical = LexicalIndex([
                        c for c in self.store.all_chunks() if ready.get(c.doc_id) == c.doc_hash
                    ])
                    self._revision = revision
                return self._lexical

    def search(self, question: str, k: int) -> tuple[np.ndarray, list[Hit]]:
        """The question's embedding and the ``k`` best chunks, dense and lexical fused. An empty
        index is an error (the lexical index holds every chunk and is current: no store count)."""
        with self.store.reading():  # one consistent state of the index, also across processes
            return self._search(question, k)

    def _search(self, question: str, k: int) -> tuple[np.ndarray, list[Hit]]:
        lexical = self.lexical()
        if not lexical.chunks:
            at = f" at {self.location}" if self.location else ""
            raise IndexNotFoundError(f"The index{at} is empty; run `askai ingest` first")
        vector = self.embedder.embed_query(question)
        n = max(self.settings.candidates, k)
        dense: list[int] = []
        for s in self.store.search_sentences(vector, 3 * n):
            for i in lexical.chunks_at(s.doc_id, s.start):
                if i not in dense:
                    dense.append(i)
                    break
        fused = fuse([dense[:n], lexical.search(question, n)])[:k]
        top = fused[0][1] if fused else 1.0
        return vector, [Hit(lexical.chunks[i], round(score / top, 4)) for i, score in fused]

    def retrieve(self, question: str, k: int) -> Retrieval:
        with self.store.reading():
            vector, hits = self._search(question, k)
            passages = select_passages(
                question, vector, hits, self.store,
                max_passages=self.settings.max_sources,
                max_chars=self.settings.max_evidence_chars,
                unit_chars=self.settings.max_unit_chars,
            )
            names = self.lexical().names
        passages = [replace(p, name=names.get(p.source, p.source)) for p in passages]
        return Retrieval(vector, hits, passages)


def _paragraph(text: str, spans: list[tuple[int, int]], pos: int) -> tuple[int, int]:
    """The first and last sentence positions of the paragraph (blank-line block) holding
    sentence ``pos`` of a chunk's ``text``."""
    start = text.rfind("\n\n", 0, spans[pos][0])
    end = text.find("\n\n", spans[pos][1])
    end = len(text) if end < 0 else end
    first = last = pos
    while first > 0 and spans[first - 1][0] > start:
        first -= 1
    while last + 1 < len(spans) and spans[last + 1][1] <= end:
        last += 1
    return first, last


@dataclass(frozen=True)
class _Sentence:
    chunk: int  # index into hits
    pos: int  # position of the sentence inside its chunk
    start: int  # offsets in the chunk's text
    end: int


def select_passages(
    question: str,
    question_vector: np.ndarray,
    hits: list[Hit],
    store: VectorStore,
    *,
    max_passages: int,
    max_chars: int,
    window: int = 1,
    unit_chars: int = 0,
) -> list[Passage]:
    """The best evidence units of ``hits``, in rank order, as exact slices of the documents.
    A sentence scores its embedding's cosine with the question, plus 0.3 × the share of the
    question's content words it holds, plus 0.15 × its chunk's fused score. A chosen sentence
    brings its whole paragraph (a block between blank lines: a list item, a table row, a
    paragraph) when that is at most ``unit_chars`` long, else the sentence with its neighbour
    where it refers back or leads in."""
    per_chunk = [sentence_spans(h.chunk.text) for h in hits]  # the spans ingest embedded
    sentences: list[_Sentence] = []
    seen: set[tuple[str, int]] = set()
    for ci, spans in enumerate(per_chunk):
        for pos, (start, end) in enumerate(spans):
            key = (hits[ci].chunk.doc_id, hits[ci].chunk.start + start)
            if key not in seen:  # overlapping chunks repeat sentences
                seen.add(key)
                sentences.append(_Sentence(ci, pos, start, end))
    if not sentences:
        return []
    keys: list[SentenceKey] = [
        (hits[s.chunk].chunk.doc_id, hits[s.chunk].chunk.start + s.start,
         hits[s.chunk].chunk.start + s.end)
        for s in sentences
    ]
    vectors = store.sentence_vectors(keys)
    missing = [k for k in keys if k not in vectors]
    if missing:
        raise IndexCorruptError(
            f"The index has no sentence embedding for {missing[0][0]!r} at {missing[0][1]}; "
            "rebuild it with `askai ingest --reset`."
        )
    sims = np.stack([vectors[k] for k in keys]) @ np.asarray(question_vector, dtype=np.float32)
    asked = content_words(question)
    scores = []
    for s, sim in zip(sentences, sims, strict=True):
        text = hits[s.chunk].chunk.text[s.start : s.end]
        shared = len(asked & content_words(text)) / len(asked) if asked else 0.0
        scores.append(float(sim) + 0.3 * shared + 0.15 * hits[s.chunk].score)
    order = sorted(range(len(sentences)), key=lambda i: -scores[i])

    windows: list[tuple[int, int, int, float]] = []  # (chunk, first pos, last pos, score)
    used = 0
    shown: set[str] = set()
    for i in order:
        if len(windows) >= max_passages:
            break
        s = sentences[i]
        spans = per_chunk[s.chunk]
        text = hits[s.chunk].chunk.text[s.start : s.end]
        if text in shown:
            continue  # the same words elsewhere (a repeated title)
        shown.add(text)
        first = max(0, s.pos - (window if _REFERS_BACK.match(text) else 0))
        last = min(len(spans) - 1, s.pos + (2 * window if _LEADS_IN.search(text) else 0))
        if unit_chars:
            a, b = _paragraph(hits[s.chunk].chunk.text, spans, s.pos)
            if spans[b][1] - spans[a][0] <= unit_chars:
                first, last = min(first, a), max(last, b)
        if any(c == s.chunk and a <= s.pos <= b for c, a, b, _ in windows):
            continue  # already shown inside another window
        size = spans[last][1] - spans[first][0]
        if windows and used + size > max_chars:
            continue
        merged = False
        for k, (c, a, b, sc) in enumerate(windows):
            if c == s.chunk and first <= b + 1 and last >= a - 1:
                windows[k] = (c, min(a, first), max(b, last), sc)
                merged = True
                break
        if not merged:
            windows.append((s.chunk, first, last, scores[i]))
        used += size

    passages = []
    for ci, first, last, score in windows:
        chunk = hits[ci].chunk
        spans = per_chunk[ci]
        start, end = spans[first][0], spans[last][1]
        passages.append(
            Passage(
                source=chunk.doc_id, title=chunk.title, text=chunk.text[start:end],
                start=chunk.start + start, end=chunk.start + end, score=round(score, 4),
                section=chunk.section,
                location=label_of(chunk.locations, chunk.start + start, chunk.start + end),
            )
        )
    return passages
