"""Ingest speed per format: the whole ingest (read, chunk, embed with MiniLM, write to Chroma).

Each format gets a generated document of the same prose (seeded sentences of made-up words and
numbers), written by the library askai reads it with: Word (python-docx: headings and
paragraphs), PowerPoint (python-pptx: a title and a text box per slide), Excel (openpyxl: rows
under a header), CSV, EPUB (EbookLib: chapters), a text PDF (one page per page), and a scanned
PDF (each page an image, read by OCR). Each is ingested into a fresh embedded store, a few times
(``--repeats``); recorded: the median wall seconds and its units per second, where the unit is
the format's own (PDF pages, slides, rows) and, for flowing text, a "page" of 3,000 characters.

    .venv/bin/python bench/formats_speed.py [--pages 20] [--scanned-pages 2] [--repeats 3]
        ->  bench/results/formats_speed.json
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import RESULTS, ROOT, machine, write_json

WORDS = ("harbour ferry lighthouse keeper lamp engineer bakery rye oven frog rainforest export "
         "research design memory cache thread kernel module version release island").split()
PAGE_CHARS = 3000


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 20))]
        words.insert(rng.randrange(len(words)), str(rng.randint(1, 9999)))
        out.append(" ".join(words).capitalize() + f" (note {i}).")
    return out


def page_texts(pages: int, seed: int) -> list[str]:
    """``pages`` blocks of about PAGE_CHARS characters each."""
    out, pool = [], iter(sentences(pages * 60, seed))
    for _ in range(pages):
        text = ""
        while len(text) < PAGE_CHARS:
            text += next(pool) + " "
        out.append(text.strip())
    return out


def make_docx(path: Path, pages: int) -> int:
    import docx

    d = docx.Document()
    for i, text in enumerate(page_texts(pages, 1)):
        d.add_heading(f"Section {i + 1}", level=1)
        for part in text.split(". "):
            d.add_paragraph(part)
    d.save(str(path))
    return pages


def make_pptx(path: Path, pages: int) -> int:
    from pptx import Presentation
    from pptx.util import Inches

    p = Presentation()
    for i, text in enumerate(page_texts(pages, 2)):
        slide = p.slides.add_slide(p.slide_layouts[5])
        slide.shapes.title.text = f"Slide {i + 1}"
        box = slide.shapes.add_textbox(Inches(0.5), Inches(1.5), Inches(9), Inches(5))
        box.text_frame.text = text[:1200]  # a slide holds a paragraph, not a page
    p.save(str(path))
    return pages


def make_xlsx(path: Path, rows: int) -> int:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Costs"
    ws.append(["Item", "Cost", "Supplier", "Note"])
    for i, text in enumerate(sentences(rows, 3)):
        ws.append([f"item {i}", i * 7 % 1000, f"supplier {i % 40}", text])
    wb.save(str(path))
    return rows


def make_csv(path: Path, rows: int) -> int:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["item", "cost", "supplier", "note"])
        for i, text in enumerate(sentences(rows, 4)):
            w.writerow([f"item {i}", i * 7 % 1000, f"supplier {i % 40}", text])
    return rows


def make_epub(path: Path, pages: int) -> int:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("askai-bench")
    book.set_title("A bench book")
    book.set_language("en")
    chapters = []
    for i, text in enumerate(page_texts(pages, 5)):
        c = epub.EpubHtml(title=f"Chapter {i + 1}", file_name=f"c{i}.xhtml", lang="en")
        c.content = f"<h1>Chapter {i + 1}</h1><p>{text}</p>"
        book.add_item(c)
        chapters.append(c)
    book.toc = chapters
    book.spine = ["nav", *chapters]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    epub.write_epub(str(path), book)
    return pages


def _lines(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line]


def make_pdf(path: Path, pages: int) -> int:
    """A text PDF (a real text layer, as a word processor's PDF has): 58 lines a page."""
    sys.path.insert(0, str(ROOT))
    from tests.pdfs import make_pdf as pdf_of_lines

    path.write_bytes(pdf_of_lines([
        [(50, 750 - 12 * i, line) for i, line in enumerate(_lines(text, 95)[:58])]
        for text in page_texts(pages, 6)
    ]))
    return pages


def make_scanned_pdf(path: Path, pages: int) -> int:
    """Image-only pages (no text layer): what a scanner makes; askai reads them by OCR."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 28)
    except OSError:
        font = ImageFont.load_default(size=28)
    images = []
    for text in page_texts(pages, 7):
        img = Image.new("L", (1700, 2200), 255)
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(_lines(text, 80)[:40]):
            draw.text((100, 120 + i * 48), line, fill=0, font=font)
        images.append(img.convert("RGB"))
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=200)
    path.write_bytes(buf.getvalue())
    return pages


def ingest_seconds(path: Path) -> tuple[float, int]:
    from askai.engine import Engine
    from askai.settings import Settings

    with tempfile.TemporaryDirectory() as store:
        engine = Engine(Settings(store={"path": store}))  # type: ignore[arg-type]
        engine.embedder.embed_documents(["warm up"])
        t0 = time.perf_counter()
        report = engine.ingest([path], progress=False)
        seconds = time.perf_counter() - t0
        if not report.ok or report.documents != 1:
            raise SystemExit(f"{path.name}: {report.summary()} {report.failed}")
        return seconds, report.chunks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="pages (slides; rows / 10)")
    parser.add_argument("--scanned-pages", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "formats_speed.json"))
    args = parser.parse_args()
    n = args.pages
    cases: list[tuple[str, str, str, Any, int]] = [
        # (format, file name, unit, maker, count)
        ("Word (.docx)", "doc.docx", "page of 3,000 characters", make_docx, n),
        ("PowerPoint (.pptx)", "deck.pptx", "slide", make_pptx, n),
        ("Excel (.xlsx)", "book.xlsx", "row", make_xlsx, n * 10),
        ("CSV", "table.csv", "row", make_csv, n * 10),
        ("EPUB", "book.epub", "page of 3,000 characters", make_epub, n),
        ("PDF (text layer)", "report.pdf", "PDF page", make_pdf, n),
        ("PDF (scanned, OCR)", "scan.pdf", "PDF page", make_scanned_pdf, args.scanned_pages),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, file_name, unit, make, count in cases:
            path = Path(tmp) / file_name
            units = make(path, count)
            runs = [ingest_seconds(path) for _ in range(args.repeats)]
            seconds = statistics.median(s for s, _ in runs)
            row = {"format": name, "unit": unit, "units": units, "bytes": path.stat().st_size,
                   "chunks": runs[0][1], "seconds": [round(s, 2) for s, _ in runs],
                   "median_seconds": round(seconds, 2),
                   "units_per_second": round(units / seconds, 2)}
            rows.append(row)
            print(f"{name:22s} {units:5d} {unit:26s} {seconds:7.2f} s  "
                  f"{units / seconds:7.2f} /s  ({runs[0][1]} chunks)", flush=True)
    write_json(Path(args.out), {"benchmark": "formats_speed", "machine": machine(),
                                "repeats": args.repeats, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
