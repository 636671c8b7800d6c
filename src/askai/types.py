"""Plain result types shared by the engine, the CLI, the page and the eval."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """A span of a document that supports part of an answer.

    ``quote == document_text(source)[start:end]`` always holds.
    """

    source: str  # document id: the absolute path of the document's file
    quote: str
    start: int
    end: int
    score: float  # how well the quote supports the sentence it is attached to (0..1)
    marker: int = 0  # the [n] the answer text uses for it
    title: str = ""
    passage: str = ""  # the retrieved passage the quote was taken from, for display
    passage_start: int = 0
    retrieval_score: float = 0.0
    section: str = ""  # heading path of the section the quote lies in
    name: str = ""  # the shortest ending of ``source`` no other indexed document shares
    # where a person finds the quote: "page 3", "slide 2", "sheet Costs, row 14" ("" when the
    # format has no such unit; the heading path is ``section``)
    location: str = ""


@dataclass(frozen=True)
class SentenceCheck:
    """The verdict on one answer sentence against the evidence it cites."""

    text: str
    markers: tuple[int, ...]
    supported: bool
    support: float
    reason: str = ""


@dataclass(frozen=True)
class Passage:
    """A retrieved piece of a document, as shown to the model."""

    source: str
    title: str
    text: str
    start: int
    end: int
    score: float
    section: str = ""  # heading path (``Configuration › Logging``) of the section it lies in
    name: str = ""  # the shortest ending of ``source`` no other indexed document shares
    location: str = ""  # "page 3", "slide 2", "sheet Costs, row 14" ("" when the format has none)


@dataclass(frozen=True)
class Answer:
    """What :func:`askai.ask` returns."""

    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    sentences: list[SentenceCheck] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    raw_text: str = ""  # the model's output before verification
    searched: str = ""  # the question as it was searched (after follow-up rewriting)
    # the model's probability that the cited passages answer the question (None: not checked)
    relevance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IngestFailure:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What :func:`askai.ingest` did."""

    documents: int = 0  # documents (re)indexed in this run
    chunks: int = 0  # chunks written in this run
    skipped: int = 0  # unchanged documents
    removed: int = 0  # documents pruned
    failed: list[IngestFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{self.documents} documents, {self.chunks} chunks, {self.skipped} skipped, "
            f"{self.removed} removed, {len(self.failed)} failed, {self.seconds:.1f} s"
        )
