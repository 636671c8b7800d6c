"""The page's document view: a source shown where it stands in its document. Always the stored
document text around the quote, with the quote marked; for a PDF also the page the quote is on,
rendered to an image by pypdfium2 with the quote's characters highlighted.

The stored text of a PDF is pypdf's and pdfminer's extraction; pdfium extracts its own. The quote is
found on the page by comparing both with white space removed and compatibility forms folded
(``ﬁ`` → ``fi``), so line breaks and spacing that the two extractions make differently do not
matter.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
from html import escape
from pathlib import Path
from typing import Any

from askai.index.store import DocumentRecord

CONTEXT_CHARS = 1500  # stored text shown on each side of the quote
RENDER_SCALE = 1.5  # 72 dpi × 1.5: a US Letter page is 918 × 1188 pixels
HIGHLIGHT = (255, 214, 64)  # multiplied into the page: the text stays dark


def context_html(text: str, start: int, end: int, chars: int = CONTEXT_CHARS) -> str:
    """``text[start:end]`` marked, with up to ``chars`` characters on each side (cut at a line
    break or a space where there is one near the cut)."""
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"Expected 0 <= start <= end <= {len(text)}, got {start}..{end}")
    lo, hi = max(0, start - chars), min(len(text), end + chars)
    if lo > 0:  # start at the first line (else word) that begins after the cut
        cut = text.find("\n", lo, min(start, lo + 200))
        cut = cut if cut != -1 else text.find(" ", lo, min(start, lo + 50))
        lo = cut + 1 if cut != -1 else lo
    if hi < len(text):  # end at the last line break (else space) before the cut
        cut = text.rfind("\n", max(end, hi - 200), hi)
        cut = cut if cut != -1 else text.rfind(" ", max(end, hi - 50), hi)
        hi = cut if cut != -1 else hi
    return (
        '<div class="context">'
        + ("<span class='cut'>…</span>" if lo > 0 else "")
        + escape(text[lo:start])
        + f'<mark id="docview-quote">{escape(text[start:end])}</mark>'
        + escape(text[end:hi])
        + ("<span class='cut'>…</span>" if hi < len(text) else "")
        + "</div>"
    )


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` without white space, in NFKC and lower case, and for each character of the
    result the index of the character of ``text`` it came from."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).lower():
            if not c.isspace() and c not in "\x00\ufffe\uffff\x02":
                out.append(c)
                origin.append(i)
    return "".join(out), origin


def _page_hint(location: str) -> int | None:
    found = re.search(r"\bpages?\s+(\d+)", location or "", re.IGNORECASE)
    return int(found.group(1)) - 1 if found else None


def find_on_pdf(
    path: Path, quote: str, location: str = ""
) -> tuple[Any, int, list[int]] | None:
    """The open pdfium document, the 0-based page and the page's character indices of ``quote``
    (searched first on the page ``location`` names, "page 3"). When no page's text layer holds
    it but ``location`` names a page (a scanned page, its text from OCR), that page with no
    characters; else None."""
    import pypdfium2 as pdfium

    needle, _ = _folded(quote)
    if not needle:
        return None
    pdf = pdfium.PdfDocument(str(path))
    hint = _page_hint(location)
    order = list(range(len(pdf)))
    if hint is not None and 0 <= hint < len(pdf):
        order.remove(hint)
        order.insert(0, hint)
    for number in order:
        textpage = pdf[number].get_textpage()
        count = textpage.count_chars()
        text = textpage.get_text_range()
        if len(text) != count:  # one string index per character index, whatever the text holds
            text = "".join(textpage.get_text_range(i, 1)[:1] or "\x00" for i in range(count))
        hay, origin = _folded(text)
        at = hay.find(needle)
        if at != -1:
            return pdf, number, list(range(origin[at], origin[at + len(needle) - 1] + 1))
    if hint is not None and 0 <= hint < len(pdf):
        return pdf, hint, []
    pdf.close()
    return None


def pdf_page_png(path: Path, quote: str, location: str = "") -> tuple[int, bytes, bool] | None:
    """The 1-based number of the page holding ``quote``, that page as a PNG with the quote
    highlighted, and whether it is (not on a scanned page: see :func:`find_on_pdf`); None when
    the quote is on no page of the file (as it is now)."""
    from PIL import Image, ImageChops, ImageDraw

    found = find_on_pdf(path, quote, location)
    if found is None:
        return None
    pdf, number, chars = found
    try:
        page = pdf[number]
        textpage = page.get_textpage()
        image = page.render(scale=RENDER_SCALE).to_pil().convert("RGB")
        left, bottom, right, top = page.get_bbox()
        layer = Image.new("RGB", image.size, (255, 255, 255))
        draw = ImageDraw.Draw(layer)
        for x0, y0, x1, y1 in _line_boxes([textpage.get_charbox(i, loose=True) for i in chars]):
            draw.rectangle(
                [(x0 - left) * RENDER_SCALE - 1, (top - y1) * RENDER_SCALE - 1,
                 (x1 - left) * RENDER_SCALE + 1, (top - y0) * RENDER_SCALE + 1],
                fill=HIGHLIGHT,
            )
        out = io.BytesIO()
        ImageChops.multiply(image, layer).save(out, format="PNG", optimize=True)
        return number + 1, out.getvalue(), bool(chars)
    finally:
        pdf.close()


def _line_boxes(
    boxes: list[tuple[float, float, float, float]],
) -> list[tuple[float, float, float, float]]:
    """Character boxes (left, bottom, right, top) in reading order merged into one box per run on
    a line, so the spaces between words are highlighted too; empty boxes (generated spaces and
    line breaks) are left out."""
    merged: list[list[float]] = []
    for x0, y0, x1, y1 in boxes:
        if x1 <= x0 or y1 <= y0:
            continue
        last = merged[-1] if merged else None
        if last and x0 >= last[0] and min(y1, last[3]) - max(y0, last[1]) > 0.5 * (y1 - y0):
            last[1], last[2], last[3] = min(last[1], y0), max(last[2], x1), max(last[3], y1)
        else:
            merged.append([x0, y0, x1, y1])
    return [(a, b, c, d) for a, b, c, d in merged]


def document_view(
    record: DocumentRecord, start: int, end: int, *, title: str = "", location: str = "",
    name: str = "",
) -> str:
    """HTML of the document view for ``record.text[start:end]``: a heading naming the document,
    the page image for a PDF (when its file is still there and holds the quote) and the text in
    context."""
    text = record.text
    if not 0 <= start < end <= len(text):
        raise ValueError(
            f"Characters {start}..{end} are not in {name or record.doc_id} "
            f"({len(text)} characters); ask again and open the new source"
        )
    quote = text[start:end]
    file = Path(record.path or record.doc_id)
    head = (
        '<div class="docview-head">'
        f'<b class="title">{escape(title or record.title or file.name)}</b>'
        + (f' <span class="where">{escape(location)}</span>' if location else "")
        + f' <span class="doc" title="{escape(record.doc_id)}">{escape(name or file.name)}</span>'
        f' <span class="chars">characters {start}–{end}</span></div>'
    )
    parts = ['<div class="askai-docview">', head]
    if file.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        try:
            shown = pdf_page_png(file, quote, location) if file.is_file() else None
            why = "the file is gone or no longer holds this text"
        except (pdfium.PdfiumError, OSError) as exc:  # e.g. it became encrypted or corrupt
            shown, why = None, f"pdfium could not read it ({exc})"
        if shown is None:
            parts.append(f'<p class="note">The PDF page could not be shown: {escape(why)}. '
                         "The indexed text follows.</p>")
        else:
            number, png, marked = shown
            data = base64.b64encode(png).decode("ascii")
            caption = f"page {number}" + ("" if marked else (
                ": the quote is not in this page's text layer (a scanned page, read by OCR); "
                "it is marked in the text below"))
            parts.append(
                f'<figure class="pdf-page" data-page="{number}" '
                f'data-marked="{str(marked).lower()}">'
                f'<figcaption>{escape(caption)}</figcaption><img alt="page {number} of '
                f'{escape(file.name)}{", the quote highlighted" if marked else ""}" '
                f'src="data:image/png;base64,{data}"></figure>'
            )
    parts.append(context_html(text, start, end))
    parts.append("</div>")
    return "".join(parts)
