"""PDF by page and paragraph (pdfminer.six's layout analysis), with the outline as headings.

- pdfminer groups each page's characters into text boxes (paragraphs, headings, code blocks);
  a box's lines are joined into one paragraph (a word hyphenated at a line end is joined, as
  pdftotext does), except in code set in a typewriter font, whose lines are kept. Tables of
  contents (dot leaders) and glyphs without a character (``(cid:13)``) are left out.
- Running headers and footers (the same text at the top or bottom of many pages, page numbers
  folded) and bare page numbers are dropped: they are not content, and a page number is not a
  fact about anything.
- The document outline (bookmarks) gives the headings: each entry opens a section at its box on
  its page (or at the page's start when its title is not found there), nested by outline depth.
- Every block is marked with its page ("page 3"). A page with no text layer at all (no character,
  but an image or drawing: a scan) is rendered (pypdfium2, 300 dpi) and read by OCR
  (:mod:`askai.ingest.ocr`), marked "page 3 (OCR)"; a page with a text layer is never OCR'd.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from askai.errors import IngestError
from askai.ingest.ocr import NO_TEXT, OCR_OFF
from askai.ingest.structure import LoadedDocument, TextBuilder

_UNMAPPED = re.compile(r"\(cid:\d+\)")  # a glyph the PDF gives no character for
_ENDS = (".", ":", ";", "!", "?")
_LEADERS = re.compile(r"(?:\.\s?){4,}")  # a table of contents' dot leaders
_PASSWORD = ("is password-protected (it opens only with a password); save a copy without it "
             "(e.g. `qpdf --password=PASSWORD --decrypt in.pdf out.pdf`) and ingest that")
_CODE_FONT = re.compile(r"mono|courier|cmtt|typewriter|consol|code|sfmt|lmmono|inconsolata", re.I)


@dataclass
class _Line:
    text: str
    x0: float
    x1: float
    y: float  # vertical centre, from the page's top edge


@dataclass
class _Box:
    lines: list[_Line]
    top: float  # distance from the page's top edge
    bottom: float
    x0: float
    x1: float
    code: bool
    table: bool = False

    @property
    def text(self) -> str:
        if self.code or self.table:
            return "\n".join(ln.text for ln in self.lines)
        return reflow([ln.text for ln in self.lines])


def _norm(text: str) -> str:
    return " ".join(re.sub(r"\d+", "#", text.lower()).split())


def reflow(lines: list[str]) -> str:
    out = ""
    for ln in lines:
        ln = ln.strip()
        if not out:
            out = ln
        elif out.endswith("-") and ln[:1].islower() and out[-2:-1].isalpha():
            out = out[:-1] + ln  # a word hyphenated at the line end (as pdftotext joins it)
        else:
            out += " " + ln
    return out


def _box(box: object, height: float) -> _Box | None:
    from pdfminer.layout import LTChar, LTTextLine

    lines: list[_Line] = []
    fonts: Counter[bool] = Counter()
    for line in box:  # type: ignore[attr-defined]
        if not isinstance(line, LTTextLine):
            continue
        text = _UNMAPPED.sub("", line.get_text()).rstrip()
        if text.strip():
            lines.append(_Line(text, line.x0, line.x1, height - (line.y0 + line.y1) / 2))
        for ch in line:
            if isinstance(ch, LTChar) and not ch.get_text().isspace():
                fonts[bool(_CODE_FONT.search(ch.fontname))] += 1
    if not lines:
        return None
    return _Box(lines, height - box.y1, height - box.y0, box.x0, box.x1,  # type: ignore[attr-defined]
                code=fonts[True] > fonts[False])


def _tables(boxes: list[_Box]) -> list[_Box]:
    """Columns of a table that the layout analysis cut into side-by-side boxes (short lines,
    overlapping vertically, apart horizontally) are joined back into rows: each row's cells, left
    to right, joined by `` | `` — so "hypergeometric | hyper | m, n, k" stays one unit."""
    def columnar(b: _Box) -> bool:
        return len(b.lines) >= 3 and sum(len(ln.text) for ln in b.lines) / len(b.lines) < 40

    out: list[_Box] = []
    used: set[int] = set()
    for i, b in enumerate(boxes):
        if i in used:
            continue
        group = [b]
        if columnar(b):
            for j in range(i + 1, len(boxes)):
                c = boxes[j]
                if j in used or not (columnar(c) or len(c.lines) >= 3):
                    continue
                overlap = min(b.bottom, c.bottom) - max(b.top, c.top)
                apart = all(c.x0 >= g.x1 or c.x1 <= g.x0 for g in group)
                if apart and overlap > 0.5 * min(b.bottom - b.top, c.bottom - c.top):
                    group.append(c)
                    used.add(j)
        if len(group) == 1:
            out.append(b)
            continue
        lines = sorted((ln for g in group for ln in g.lines), key=lambda ln: ln.y)
        rows: list[list[_Line]] = []
        for ln in lines:
            if rows and abs(rows[-1][0].y - ln.y) < 3.0:
                rows[-1].append(ln)
            else:
                rows.append([ln])
        merged = [
            _Line(" | ".join(c.text.strip() for c in sorted(r, key=lambda ln: ln.x0)),
                  min(c.x0 for c in r), max(c.x1 for c in r), r[0].y)
            for r in rows
        ]
        out.append(_Box(merged, min(g.top for g in group), max(g.bottom for g in group),
                        min(g.x0 for g in group), max(g.x1 for g in group), code=False,
                        table=True))
    return out


class _CreationOrder:
    """A stand-in for ``id()`` in pdfminer's text box grouping, numbering objects in the order
    it first sees them. pdfminer merges the closest pair of boxes first and breaks ties between
    equal distances by ``id()``, a memory address: boxes laid out at equal spacing (a table's
    rows) then came out in a different order from one process to the next, so a PDF's text, its
    hash and its chunks' offsets changed between two ingests of the same file (R-admin.pdf:
    two table rows swapped, and the document re-embedded on every ingest). Numbered by first
    sight, ties go to the box pdfminer listed first, in every process."""

    def __init__(self) -> None:
        self._next = itertools.count()

    def __call__(self, obj: object) -> int:
        order = obj.__dict__.get("_askai_order")
        if order is None:
            order = obj.__dict__["_askai_order"] = next(self._next)
        return order


def _deterministic_layout() -> None:
    """Give pdfminer's layout module :class:`_CreationOrder` as its ``id`` (it calls ``id`` only
    in ``group_textboxes``, for the heap's tie-break and its set of merged objects)."""
    import pdfminer.layout

    if not isinstance(getattr(pdfminer.layout, "id", None), _CreationOrder):
        pdfminer.layout.id = _CreationOrder()  # type: ignore[attr-defined]


def _pages(data: bytes) -> tuple[list[list[_Box]], set[int]]:
    """The boxes of every page, and the (0-based) pages with no text layer but something drawn
    on them: the pages to OCR."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTTextContainer

    _deterministic_layout()

    pages = []
    scanned: set[int] = set()
    # char_margin 3 (default 2): justified lines with wide word gaps stay one line
    for number, layout in enumerate(
        extract_pages(io.BytesIO(data), laparams=LAParams(char_margin=3.0))
    ):
        boxes = [
            b for el in layout if isinstance(el, LTTextContainer)
            and (b := _box(el, layout.height)) is not None
        ]
        pages.append(_tables(boxes))
        text_layer = any(isinstance(el, (LTTextContainer, LTChar)) for el in _walk(layout))
        if len(layout) and not text_layer:
            scanned.add(number)
    return pages, scanned


def _walk(layout: object) -> Iterator[object]:
    """Every layout element of a page, nested ones (inside figures) too."""
    for el in layout:  # type: ignore[attr-defined]
        yield el
        if hasattr(el, "__iter__") and not isinstance(el, str):
            yield from _walk(el)


def _ocr_pages(path: Path, data: bytes, numbers: set[int]) -> dict[int, list[str]]:
    """The paragraphs OCR finds on each of ``numbers`` (0-based), rendered at 300 dpi (at 200
    the recogniser loses the spaces between the words of 10-point text)."""
    if not numbers:
        return {}
    import pypdfium2

    from askai.ingest.ocr import MAX_SIDE, paragraphs

    found: dict[int, list[str]] = {}
    pdf = pypdfium2.PdfDocument(data)
    try:
        for number in sorted(numbers):
            page = pdf[number]
            # 300 dpi, or less for a page so large that would pass MAX_SIDE pixels (a PDF may
            # declare a page of 200 by 200 inches: billions of pixels)
            scale = min(300 / 72, MAX_SIDE / max(1.0, *page.get_size()))
            image = page.render(scale=scale, grayscale=True).to_pil()
            found[number] = paragraphs(image, path)
            page.close()
    finally:
        pdf.close()
    return found


def _furniture(pages: list[list[_Box]]) -> set[str]:
    """Normalised texts of running headers and footers: one of the two top-most or bottom-most
    boxes of a page whose text (digits folded) recurs there on at least 3 pages."""
    edge: Counter[str] = Counter()
    for boxes in pages:
        if not boxes:
            continue
        by_top = sorted(boxes, key=lambda b: b.top)
        edge.update({_norm(b.text) for b in by_top[:2] + by_top[-2:]})
    need = 3
    return {t for t, n in edge.items() if n >= need}


def _outline(reader: object) -> dict[int, list[tuple[int, str]]]:
    """Outline entries by 0-based page: ``(depth, title)`` in outline order."""
    found: dict[int, list[tuple[int, str]]] = {}

    def walk(entries: list, depth: int) -> None:
        for entry in entries:
            if isinstance(entry, list):
                walk(entry, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(entry)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - a broken bookmark is skipped, not fatal
                continue
            title = " ".join(str(getattr(entry, "title", "") or "").split())
            if title and page is not None and page >= 0:
                found.setdefault(page, []).append((depth, title))

    try:
        walk(reader.outline, 1)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - no or unreadable outline: no headings
        return {}
    return found


def load_pdf(path: Path, data: bytes, *, ocr: bool = True) -> LoadedDocument:
    """A PDF's text by page, with its title (metadata), sections (outline) and pages; pages
    without a text layer are read by OCR (left out when ``ocr`` is off).

    An encrypted PDF whose user password is empty (any viewer opens it without asking; RC4 or
    AES, decrypted with the ``cryptography`` package) is read; one that needs a password is
    refused as password-protected, and a damaged one as corrupt.
    """
    try:
        from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
        from pdfminer.pdfparser import PDFSyntaxError
        from pdfminer.psparser import PSException
        from pypdf import PdfReader
        from pypdf.errors import DependencyError, PyPdfError
    except ImportError as exc:  # pdfminer.six imports cryptography (AES) at its top
        raise IngestError(path, _missing_package(exc)) from exc

    if not data.startswith(b"%PDF"):
        raise IngestError(path, "is not a PDF file (no %PDF header); it may be corrupt")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(path, _PASSWORD)
        title = str((reader.metadata or {}).get("/Title") or "").strip()
        outline = _outline(reader)
        pages, scanned = _pages(data)
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise IngestError(path, _PASSWORD) from exc
    except (DependencyError, ImportError) as exc:
        raise IngestError(path, _missing_package(exc)) from exc
    except (PyPdfError, PDFSyntaxError, PSException, ValueError, KeyError, TypeError,
            OSError, AssertionError) as exc:
        raise IngestError(path, f"is a corrupt PDF ({type(exc).__name__}: {exc})") from exc
    try:
        found = _ocr_pages(path, data, scanned if ocr else set())
    except (pypdfium_error(), ValueError, OSError) as exc:
        raise IngestError(path, f"has scanned pages that could not be rendered for OCR "
                          f"({type(exc).__name__}: {exc}); it may be corrupt") from exc
    furniture = _furniture(pages)
    builder = TextBuilder()
    pending = ""  # a paragraph that may go on in the next box (past a page or column break)
    pending_page = 0  # the page it starts on

    def flush() -> None:
        nonlocal pending
        if pending:
            builder.locate("page", pending_page)
            builder.block(pending)
        pending = ""

    for number, boxes in enumerate(pages):
        if number in found:
            flush()
            builder.locate("page", number + 1, note="OCR")
            for paragraph in found[number]:
                builder.block(paragraph)
        entries = list(outline.get(number, []))
        for box in boxes:
            text = box.text
            norm = _norm(text)
            if norm in furniture or re.fullmatch(r"[#ivxlc]+", norm) or _is_toc(text):
                continue
            hit = next((e for e in entries if _same_heading(e[1], text)), None)
            if hit is not None:
                flush()
                builder.locate("page", number + 1)
                # entries listed before the one found open at this point too (not found alone)
                for depth, heading in entries[: entries.index(hit)]:
                    builder.heading(depth, heading, show=False)
                entries = entries[entries.index(hit) + 1:]
                builder.heading(hit[0], text)
                continue
            if box.code or box.table:
                flush()
                builder.locate("page", number + 1)
                builder.block(text)
            elif pending and text[:1].islower() and not pending.rstrip().endswith(_ENDS):
                pending = reflow([pending, text])
            else:
                flush()
                pending, pending_page = text, number + 1
        if entries:  # not found on the page: they open where the page ends
            flush()
        for depth, heading in entries:
            builder.heading(depth, heading, show=False)
    flush()
    if scanned and not builder.text().strip():
        if not ocr:
            raise IngestError(path, f"has no text layer (a scan: {len(scanned)} page(s) of "
                              f"images); {OCR_OFF}")
        raise IngestError(path, f"{NO_TEXT} on its {len(scanned)} page(s) without a text layer")
    return builder.document(title)


def pypdfium_error() -> type[Exception]:
    try:
        from pypdfium2 import PdfiumError
    except ImportError:  # pragma: no cover - pypdfium2 is a dependency
        return RuntimeError
    return PdfiumError


def _missing_package(exc: Exception) -> str:
    return (f"cannot be read: a package PDF reading needs is missing ({exc}); install "
            "askai's dependencies again (pip install cryptography pdfminer.six pypdf)")


def _is_toc(text: str) -> bool:
    """A box of table-of-contents lines (titles, dot leaders, page numbers): it only repeats
    the headings, and would match every question about them."""
    leaders = sum(len(m.group(0)) for m in _LEADERS.finditer(text))
    return leaders > 0.25 * len(text)


def _same_heading(title: str, text: str) -> bool:
    a = " ".join(title.lower().split())
    b = " ".join(text.lower().split())
    return len(b) <= len(a) + 12 and (b == a or b.endswith(a) or a.endswith(b) and len(b) > 3)
