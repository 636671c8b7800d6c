"""From a question to the few passages the model sees.

Chunks come from the vector store; inside them every sentence is scored against the question
(embedding cosine, blended with its chunk's score), and the best sentences, each with a window of
neighbours, become the numbered passages of the prompt. Fewer, tighter passages mean a shorter
prompt (prompt processing dominates time to first token on a CPU) and tighter quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from askai.grounding import split_sentences
from askai.index.embedder import Embedder
from askai.index.store import Hit
from askai.types import Passage

_NEEDS_CONTEXT = re.compile(r"^(?:they|it|its|this|these|those|their|such|he|she|his|her)\b", re.I)


@dataclass(frozen=True)
class _Sentence:
    chunk: int  # index into hits
    pos: int  # position of the sentence inside its chunk
    start: int  # offsets in the chunk's text
    end: int


def select_passages(
    question_vector: np.ndarray,
    hits: list[Hit],
    embedder: Embedder,
    *,
    max_passages: int,
    window: int = 1,
    max_chars: int = 1800,
) -> list[Passage]:
    """The best sentence windows of ``hits``, in rank order, as exact slices of the documents."""
    per_chunk: list[list[tuple[int, int]]] = [split_sentences(h.chunk.text) for h in hits]
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
    vectors = embedder.embed_documents(
        [hits[s.chunk].chunk.text[s.start : s.end] for s in sentences]
    )
    sims = vectors @ np.asarray(question_vector, dtype=np.float32)
    scores = [
        0.7 * float(sim) + 0.3 * hits[s.chunk].score
        for s, sim in zip(sentences, sims, strict=True)
    ]
    order = sorted(range(len(sentences)), key=lambda i: -scores[i])

    windows: list[tuple[int, int, int, float]] = []  # (chunk, first pos, last pos, score)
    used = 0
    for i in order:
        if len(windows) >= max_passages:
            break
        s = sentences[i]
        spans = per_chunk[s.chunk]
        text = hits[s.chunk].chunk.text[s.start : s.end]
        first = max(0, s.pos - (window if _NEEDS_CONTEXT.match(text) else 0))
        last = min(len(spans) - 1, s.pos + window)
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
            )
        )
    return passages
