"""Where a quote is, in units a person can find: "page 3", "page 3 (OCR)", "slide 2",
"sheet Costs, row 14", "row 7".

A loader marks where each unit starts in the document text (:class:`Location`: an offset and the
unit). Each stored chunk keeps the marks that apply inside it, so a passage and a citation get
the location of their own span, however a chunk runs across pages or rows.

>>> marks = [Location(0, "page", 1), Location(40, "page", 2)]
>>> label_of(marks, 10, 20), label_of(marks, 30, 50)
('page 1', 'pages 1–2')
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from askai.index.store import Chunk
    from askai.types import Citation


@dataclass(frozen=True)
class Location:
    start: int  # offset in the document text where the unit's first block starts
    unit: str  # "page", "slide", "row", "image"
    number: int = 0  # the page, slide or row number (1-based; 0: the unit has none)
    scope: str = ""  # what the number counts within: "sheet Costs"
    note: str = ""  # how the text was obtained, when it matters: "OCR"

    @property
    def label(self) -> str:
        return _label(self.unit, str(self.number) if self.number else "", self.scope, self.note)


def _label(unit: str, number: str, scope: str, note: str) -> str:
    text = f"{unit} {number}".strip()
    if scope:
        text = f"{scope}, {text}"
    return f"{text} ({note})" if note else text


def within(marks: Sequence[Location], start: int, end: int) -> tuple[Location, ...]:
    """The marks that apply to ``[start, end)``: the one in force at ``start`` (moved to
    ``start``) and those that begin inside."""
    i = bisect.bisect_right(marks, start, key=lambda m: m.start) - 1  # O(log n) per chunk
    out = [replace(marks[i], start=start)] if i >= 0 else []
    j = i + 1
    while j < len(marks) and marks[j].start < end:
        out.append(marks[j])
        j += 1
    return tuple(out)


def label_of(marks: Sequence[Location], start: int, end: int) -> str:
    """The location of ``[start, end)``: one unit ("page 3"), a range of the same kind
    ("pages 3–4", "sheet Costs, rows 2–5", "pages 1–2 (page 2 OCR)"), or first and last
    ("sheet A, row 9 – sheet B, row 2"); "" where no mark applies."""
    found = within(marks, start, max(end, start + 1))
    if not found:
        return ""
    first, last = found[0], found[-1]
    if first.label == last.label:
        return first.label
    if (first.unit, first.scope) == (last.unit, last.scope) and first.number and last.number:
        notes = {m.note for m in found}
        note = first.note if len(notes) == 1 else ", ".join(  # "pages 1–2 (page 2 OCR)"
            f"{m.unit} {m.number} {m.note}" for m in found if m.note)
        return _label(first.unit + "s", f"{first.number}–{last.number}", first.scope, note)
    return f"{first.label} – {last.label}"


def to_json(marks: Iterable[Location]) -> str:
    """Compact JSON of marks, for a store's metadata."""
    return json.dumps(
        [[m.start, m.unit, m.number, m.scope, m.note] for m in marks], ensure_ascii=False,
        separators=(",", ":"),
    )


def from_json(text: str) -> tuple[Location, ...]:
    if not text:
        return ()
    return tuple(Location(int(s), str(u), int(n), str(c), str(t)) for s, u, n, c, t in
                 json.loads(text))


def locate(citations: Sequence[Citation], chunks: Iterable[Chunk]) -> list[Citation]:
    """``citations`` with the location of each quote, from the chunk it was taken from."""
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.doc_id, []).append(chunk)
    out = []
    for c in citations:
        chunk = next((k for k in by_doc.get(c.source, []) if k.start <= c.start < k.end), None)
        label = label_of(chunk.locations, c.start, c.end) if chunk else ""
        out.append(replace(c, location=label) if label else c)
    return out
