"""Sentence-aware chunks with exact character offsets, using llama-index's SentenceSplitter."""

from __future__ import annotations

import re
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from askai.errors import IngestError
from askai.ingest.structure import Section, section_at

# The splitter tokenizes and sentence-splits whatever it is given whole: a 19 MB file with no line
# break would be one 19 MB piece (GBs of tokens in memory). Longer runs of text are cut first, at
# the last paragraph, line or sentence break (else space) before this many characters, so every
# step sees a bounded piece and time and memory grow linearly with the file.
MAX_PIECE_CHARS = 100_000
_CUTS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?][\"')\]]*\s|[。！？]"),
         re.compile(r"\s"))


# llama-index's SentenceSplitter finds sentences with nltk's Punkt tokenizer, and `import nltk`
# imports every nltk subpackage, among them its optional scikit-learn and SciPy integrations
# (classifier wrappers, association measures) and through scikit-learn pandas: 120 MB of memory
# and 2 s that splitting never uses. nltk guards each of those imports (it catches their
# ImportError), so they are hidden while nltk is imported: the same Punkt code, without them.
_NLTK_EXTRAS = ("sklearn", "scipy", "pandas")
_NLTK_IMPORT = threading.Lock()


def import_nltk_without_extras() -> None:
    """Import nltk with its optional scikit-learn, SciPy and pandas imports hidden (those already
    imported stay as they are; they are importable as usual afterwards)."""
    with _NLTK_IMPORT:
        if "nltk" in sys.modules:
            return
        hidden = [name for name in _NLTK_EXTRAS if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            import nltk  # noqa: F401
        finally:
            for name in hidden:
                if sys.modules.get(name, False) is None:
                    del sys.modules[name]


@dataclass(frozen=True)
class TextSpan:
    text: str
    start: int
    end: int
    section: str = ""  # the heading path of the section the span lies in


class Chunker:
    """Splits text into overlapping, sentence-aligned chunks of about ``chunk_size`` tokens."""

    def __init__(
        self, chunk_size: int, chunk_overlap: int, tokenizer: Callable[[str], list] | None = None
    ) -> None:
        from llama_index.core.node_parser import SentenceSplitter

        import_nltk_without_extras()
        if chunk_overlap >= chunk_size:
            raise ValueError(
                f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})"
            )
        self._splitter = SentenceSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=tokenizer,
            paragraph_separator="\n\n",
        )

    def split(
        self, text: str, *, name: str = "", sections: Sequence[Section] = ()
    ) -> list[TextSpan]:
        """Chunks of ``text`` with ``text[start:end] == chunk.text``; no chunk crosses the start
        of one of ``sections``, and each carries its section's path."""
        bounds = sorted({0, *(s.start for s in sections if 0 < s.start < len(text))})
        spans: list[TextSpan] = []
        for a, b in zip(bounds, [*bounds[1:], len(text)], strict=True):
            section = section_at(list(sections), a)
            for p, q in pieces(text, a, b):
                for span in self._split(text[p:q], name):
                    spans.append(TextSpan(span.text, p + span.start, p + span.end, section))
        return spans

    def _split(self, text: str, name: str) -> list[TextSpan]:
        spans: list[TextSpan] = []
        if not text.strip():
            return spans
        cursor = end = 0
        for piece in self._splitter.split_text(text):
            # a chunk ends past the one before it (it holds at least one new split): where the
            # text repeats itself, the first match after the cursor alone may be an earlier copy
            start = text.find(piece, max(cursor, end - len(piece) + 1))
            if start < 0:
                start = _fuzzy_find(text, piece, cursor)
            if start < 0:
                raise IngestError(name, "a chunk could not be located in the text (splitter bug)")
            end = start + len(piece) if text.startswith(piece, start) else _fuzzy_end(
                text, piece, start
            )
            spans.append(TextSpan(text[start:end], start, end))
            cursor = start + 1
        return spans


def pieces(text: str, start: int, end: int, limit: int = MAX_PIECE_CHARS) -> list[tuple[int, int]]:
    """``text[start:end]`` as consecutive ranges of at most ``limit`` characters, each cut at the
    last paragraph break in its second half, else line break, sentence end or white space (a
    hard cut only where there is none)."""
    out: list[tuple[int, int]] = []
    while end - start > limit:
        cut = start + limit
        for pattern in _CUTS:
            last = deque(pattern.finditer(text, start + limit // 2, start + limit), maxlen=1)
            if last:
                cut = last[0].end()
                break
        out.append((start, cut))
        start = cut
    out.append((start, end))
    return out


def _ws_pattern(piece: str) -> re.Pattern[str]:
    words = piece.split()
    return re.compile(r"\s+".join(re.escape(w) for w in words))


def _fuzzy_find(text: str, piece: str, cursor: int) -> int:
    """The splitter may collapse white space between splits; match with flexible white space."""
    match = _ws_pattern(piece).search(text, cursor)
    return match.start() if match else -1


def _fuzzy_end(text: str, piece: str, start: int) -> int:
    match = _ws_pattern(piece).match(text, start)
    if not match:
        raise IngestError("", "a chunk could not be located in the text (splitter bug)")
    return match.end()
