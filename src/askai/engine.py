"""The engine: retrieve → prompt → generate → verify and cite → check relevance. Every interface
calls into here."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from askai.answer import (
    REFUSAL,
    build_messages,
    cite,
    framed,
    judge_parts,
    prompt_parts,
    relevance_messages,
    tries_to_override,
)
from askai.errors import ConfigError, IndexNotFoundError, InputError, LLMError
from askai.followup import (
    REWRITE_MAX_TOKENS,
    Turn,
    clean_rewrite,
    needs_rewrite,
    rewrite_messages,
)
from askai.grounding import unknown_names
from askai.index.embedder import Embedder, build_embedder
from askai.index.store import DocumentInfo, DocumentRecord, Hit, VectorStore, build_store
from askai.ingest.chunking import Chunker
from askai.ingest.pipeline import ingest_files
from askai.llm.base import LLM, build_llm, complete, token_counter
from askai.locations import locate
from askai.retrieval import Retriever
from askai.settings import Settings, load_settings
from askai.types import Answer, IngestReport, Passage


class Retrieved:
    """What a run yields once, between retrieval and the model's first token: the passages the
    model will read. :class:`AnswerStream` takes it out of the token stream into ``.passages``."""

    __slots__ = ("passages",)

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages


class AnswerStream:
    """Iterate to receive the model's tokens as they are generated; afterwards ``.answer`` holds
    the verified :class:`Answer` (whose text may differ from the raw tokens: unsupported sentences
    are dropped and markers renumbered). ``.passages`` returns the retrieved passages as soon as
    retrieval is done, before the first token (the model may still be loading or reading them).

        >>> stream = engine.stream("Which firms pioneer chiplets?")  # doctest: +SKIP
        >>> stream.passages[0].source                                # doctest: +SKIP
        >>> for token in stream: print(token, end="")               # doctest: +SKIP
        >>> stream.answer.citations                                  # doctest: +SKIP
    """

    def __init__(self, run: Generator[str | Retrieved, None, Answer]) -> None:
        self._run = run
        self._answer: Answer | None = None
        self._passages: list[Passage] | None = None
        self._pending: list[str] = []  # tokens read while looking for the passages (none today)

    def _next(self) -> str | Retrieved | None:
        """The run's next item (a token, or the passages once retrieval is done), or None once
        the run has returned its Answer."""
        try:
            item = next(self._run)
        except StopIteration as stop:
            self._answer = stop.value
            if self._passages is None:  # refused before retrieval or without retrieving
                self._passages = list(self._answer.passages)
            return None
        if isinstance(item, Retrieved):
            self._passages = item.passages
        return item

    def __iter__(self) -> Iterator[str]:
        while self._pending:
            yield self._pending.pop(0)
        while self._answer is None:
            item = self._next()
            if item is None:
                return
            if not isinstance(item, Retrieved):
                yield item

    @property
    def passages(self) -> list[Passage]:
        """The retrieved passages; runs the question up to the end of retrieval if it has not got
        there yet (blocking, as iterating would), without consuming any token."""
        while self._passages is None:
            item = self._next()
            if isinstance(item, str):
                self._pending.append(item)
        return self._passages

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            raise RuntimeError("The stream has not finished; iterate over it first")
        return self._answer

    def close(self) -> None:
        self._run.close()


class Engine:
    """Holds the embedder, the store and (loaded on first use) the LLM."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        llm: LLM | None = None,
        reset_index: bool = False,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or build_embedder(settings.embedder)
        self.store = store or build_store(
            settings.store, self.embedder.name, self.embedder.dimension, reset=reset_index
        )
        self.retriever = Retriever(
            self.store, self.embedder, settings.retrieval, location=str(settings.store.path)
        )
        self._llm = llm
        self._llm_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one ingest or delete at a time per engine
        self._chunker: Chunker | None = None

    # -- components ------------------------------------------------------------------------------
    @property
    def llm(self) -> LLM:
        with self._llm_lock:
            if self._llm is None:
                self._llm = build_llm(self.settings.llm)
            return self._llm

    @property
    def chunker(self) -> Chunker:
        if self._chunker is None:
            tokenizer = getattr(self.embedder, "tokenizer", None)
            self._chunker = Chunker(
                self.settings.ingest.chunk_size, self.settings.ingest.chunk_overlap, tokenizer
            )
        return self._chunker

    # -- documents -------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path] | None = None,
        *,
        prune: bool = False,
        reset: bool = False,
        progress: bool = True,
    ) -> IngestReport:
        with self._write_lock, self.store.writing():  # one writer per index, across processes
            if reset:
                self.store.reset()
            return ingest_files(
                list(paths) if paths is not None else self.settings.ingest.paths,
                store=self.store, embedder=self.embedder, chunker=self.chunker,
                max_file_bytes=int(self.settings.ingest.max_file_mb * 1_000_000),
                prune=prune, progress=progress, ocr=self.settings.ingest.ocr,
            )

    def documents(self) -> list[DocumentInfo]:
        """The ready documents, without their texts (:meth:`document_text` reads one)."""
        return [d for d in self.store.list_documents() if d.status == "ready"]

    def document_text(self, doc_id: str) -> str:
        record = self.store.get_document(doc_id)
        if record is None:
            raise IndexNotFoundError(f"No document {doc_id!r} in the index")
        return record.text

    def delete_document(self, doc_id: str) -> DocumentRecord:
        """Remove a document and its chunks from the index; returns its record."""
        with self._write_lock, self.store.writing():
            record = self.store.get_document(doc_id)
            if record is None:
                raise IndexNotFoundError(f"No document {doc_id!r} in the index")
            self.store.delete_document(doc_id)
            return record

    # -- questions -------------------------------------------------------------------------------
    def validate(self, question: object, top_k: int | None) -> tuple[str, int]:
        if not isinstance(question, str):
            raise InputError(f"Expected the question to be a string, got {type(question).__name__}")
        q = " ".join(question.split())
        if not q:
            raise InputError("The question is empty; ask something about the documents")
        limit = self.settings.retrieval.max_question_chars
        if len(q) > limit:
            raise InputError(
                f"The question is {len(q)} characters long; the limit is {limit} "
                "(ASKAI_RETRIEVAL__MAX_QUESTION_CHARS)"
            )
        k = self.settings.retrieval.top_k if top_k is None else top_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > 50:
            raise InputError(f"Expected top_k between 1 and 50, got {top_k!r}")
        return q, k

    def search(self, question: str, top_k: int | None = None) -> tuple[np.ndarray, list[Hit]]:
        """The question's embedding and the ranked chunks retrieved for it (dense + BM25)."""
        q, k = self.validate(question, top_k)
        return self.retriever.search(q, k)

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        """The passages the model would see for ``question``."""
        q, k = self.validate(question, top_k)
        return self.retriever.retrieve(q, k).passages

    def stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        history: Sequence[Turn] | None = None,
    ) -> AnswerStream:
        """Stream an answer. ``history`` holds earlier (question, answer) turns of a chat: a
        follow-up that refers back to them is rewritten into a standalone question first."""
        q, k = self.validate(question, top_k)  # fail here, before the caller starts iterating
        turns = [(str(a), str(b)) for a, b in (history or [])]
        return AnswerStream(self._run(q, k, turns))

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        stream = self.stream(question, top_k=top_k, history=history)
        for _ in stream:
            pass
        return stream.answer

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        """The standalone form of a follow-up question (the question itself if it needs none)."""
        if not needs_rewrite(question, history):
            return question
        llm, limits = self.llm, self.settings.llm
        messages = rewrite_messages(  # the latest turns that fit the context, however long the chat
            question, history, count=token_counter(llm), n_ctx=limits.n_ctx,
            history_tokens=limits.history_tokens,
        )
        raw = complete(llm, messages, max_tokens=REWRITE_MAX_TOKENS, temperature=0.0)
        rewritten = clean_rewrite(raw)
        if not rewritten:
            raise LLMError(f"The model returned no standalone question for {question!r}")
        return rewritten[: self.settings.retrieval.max_question_chars]

    def _run(
        self, question: str, top_k: int, history: list[Turn]
    ) -> Generator[str | Retrieved, None, Answer]:
        t0 = time.perf_counter()
        if tries_to_override(question):
            timings = {"retrieve_s": 0.0, "first_token_s": 0.0, "total_s": time.perf_counter() - t0}
            return Answer(question, REFUSAL, True, timings=timings, searched=question)
        searched = self.rewrite(question, history)
        t_rewrite = time.perf_counter() - t0
        found = self.retriever.retrieve(searched, top_k)
        passages = found.passages
        timings = {"rewrite_s": t_rewrite, "retrieve_s": time.perf_counter() - t0 - t_rewrite}
        # A name asked about that no document mentions: nothing can answer it. (Absent from the
        # retrieved chunks alone is not enough: in technical text capitalised words are often
        # keywords, types or operating systems that the answering passage need not repeat.)
        absent = unknown_names(
            searched, " ".join(f"{h.chunk.section} {h.chunk.text}" for h in found.hits)
        )
        lexical = self.retriever.lexical()
        if not passages or any(not lexical.mentions(name) for name in absent):
            timings.update(first_token_s=0.0, total_s=time.perf_counter() - t0)
            return Answer(question, REFUSAL, True, passages=passages, timings=timings,
                          searched=searched)
        yield Retrieved(passages)  # AnswerStream.passages: readable before the model's first token
        llm = self.llm
        parts: list[str] = []
        first = None
        for token in self._generate(llm, searched, passages):
            if first is None:
                first = time.perf_counter() - t0
            parts.append(token)
            yield token
        raw = "".join(parts)
        cited = cite(
            raw, passages, question=searched, min_coverage=self.settings.retrieval.min_coverage,
            anchored_coverage=self.settings.retrieval.anchored_coverage,
        )
        # where each quote is (page, slide, sheet and row), from the chunk it was taken from
        cited = replace(cited, citations=locate(cited.citations, [h.chunk for h in found.hits]))
        timings["first_token_s"] = first or 0.0
        relevance = None
        limit = self.settings.retrieval.min_relevance
        if not cited.refused and limit > 0:
            t_check = time.perf_counter()
            relevance = round(self._judge(
                llm, searched, [framed(c.passage, c.section) for c in cited.citations]
            ), 4)
            timings["relevance_s"] = time.perf_counter() - t_check
            if relevance < limit:
                reason = (f"the cited sources do not answer the question asked (relevance "
                          f"{relevance:.2f} < {limit})")
                cited = replace(cited, text=REFUSAL, refused=True, citations=[], sentences=[
                    replace(s, supported=False, reason=reason) if s.supported else s
                    for s in cited.sentences
                ])
        timings["total_s"] = time.perf_counter() - t0
        return Answer(
            question=question, text=cited.text, refused=cited.refused, citations=cited.citations,
            sentences=cited.sentences, passages=passages, timings=timings, raw_text=raw,
            searched=searched, relevance=relevance,
        )

    def _judge(self, llm: LLM, question: str, cited: list[str]) -> float:
        """The relevance judge's P(YES) that the ``cited`` passages answer the question: the
        sequential prompt (question first; the calibrated ``min_relevance`` was measured on it),
        or (``llm.passage_cache``) the passages-first prompt, assembled from cached keys/values."""
        if not self.settings.llm.passage_cache:
            return llm.yes_probability(relevance_messages(question, cited))
        return llm.yes_probability_passages(judge_parts(question, cited))

    def _generate(self, llm: LLM, question: str, passages: list[Passage]) -> Iterator[str]:
        """The model's answer tokens: from the sequential prompt, or (``llm.passage_cache``)
        assembled from cached passage keys/values."""
        limits = self.settings.llm
        if not limits.passage_cache:
            return llm.stream(build_messages(question, passages), max_tokens=limits.max_tokens,
                              temperature=limits.temperature)
        stream_passages = getattr(llm, "stream_passages", None)
        if stream_passages is None:
            raise ConfigError(
                f"llm.passage_cache needs the llama-cpp backend ({llm.name} has no passage "
                "cache); set ASKAI_LLM__PASSAGE_CACHE=false"
            )
        return stream_passages(prompt_parts(question, passages), max_tokens=limits.max_tokens,
                               temperature=limits.temperature)


def build_engine(settings: Settings | None = None, **components: object) -> Engine:
    """An :class:`Engine` from ``settings`` (default: environment and defaults).

        >>> import askai
        >>> engine = askai.build_engine()                   # doctest: +SKIP
        >>> askai.ask("Which firms pioneer chiplets?", engine=engine).citations  # doctest: +SKIP
    """
    return Engine(settings or load_settings(), **components)  # type: ignore[arg-type]


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    global _default
    with _default_lock:
        if _default is None:
            _default = build_engine()
        return _default


def ask(
    question: str,
    engine: Engine | None = None,
    *,
    top_k: int | None = None,
    history: Sequence[Turn] | None = None,
) -> Answer:
    """Answer ``question`` from the indexed documents, with verified citations.

        >>> a = askai.ask("Which firms pioneer chiplets?")   # doctest: +SKIP
        >>> a.text, a.refused, a.citations[0].quote         # doctest: +SKIP
    """
    return (engine or default_engine()).ask(question, top_k=top_k, history=history)


def ask_stream(
    question: str,
    engine: Engine | None = None,
    *,
    top_k: int | None = None,
    history: Sequence[Turn] | None = None,
) -> AnswerStream:
    """Like :func:`ask`, streaming tokens; ``stream.answer`` holds the Answer afterwards."""
    return (engine or default_engine()).stream(question, top_k=top_k, history=history)


def ingest(
    paths: Iterable[str | Path] | None = None,
    engine: Engine | None = None,
    *,
    prune: bool = False,
    reset: bool = False,
    progress: bool = True,
) -> IngestReport:
    """Index files and folders (default: the ``ingest.paths`` setting); returns a report."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return (engine or default_engine()).ingest(paths, prune=prune, reset=reset, progress=progress)


__all__ = ["AnswerStream", "Engine", "Retrieved", "ask", "ask_stream", "build_engine", "ingest"]
