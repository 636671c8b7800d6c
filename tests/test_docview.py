"""The document view and the sources panel's HTML, on real files (PDFs made by tests/pdfs.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from askai.index.store import DocumentRecord
from askai.types import Answer, Citation, Passage, SentenceCheck
from askai.ui.app import history_turns
from askai.ui.docview import context_html, document_view, find_on_pdf, pdf_page_png
from askai.ui.render import answer_markdown, passages_html, sources_html, unlink_markers

from .pdfs import make_pdf

PAGES = [
    [(72, 720, "Lighthouses of the Northern Coast")],
    [(72, 720, "The Harrowgate lighthouse was built in 1874"),
     (72, 706, "by the engineer Mara Quell."),
     (72, 600, "Its lamp is visible from 31 kilometres away.")],
]


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "coast.pdf"
    path.write_bytes(make_pdf(PAGES))
    return path


def test_context_marks_the_quote_among_its_neighbours() -> None:
    text = "intro line\n" + "filler words " * 300 + "\nThe <quote> here.\nafter it\n" + "x " * 900
    start = text.index("The <quote>")
    html = context_html(text, start, start + len("The <quote> here."), chars=200)
    assert '<mark id="docview-quote">The &lt;quote&gt; here.</mark>\nafter it' in html
    assert "intro line" not in html and html.count("…") == 2  # cut on both sides, and says so
    assert "…" not in context_html("A B C", 2, 3) and "<mark" in context_html("A B C", 2, 3)
    with pytest.raises(ValueError):
        context_html("short", 3, 99)


def test_the_quote_is_found_on_its_page_across_line_breaks(pdf: Path) -> None:
    found = find_on_pdf(pdf, "built in 1874\nby the  engineer Mara Quell.", location="page 1")
    assert found is not None
    doc, page, chars = found
    text = doc[page].get_textpage().get_text_range()
    doc.close()
    assert page == 1  # the hint (page 1) was wrong; the search went on
    assert "".join(text[i] for i in chars).replace("\r\n", " ") == (
        "built in 1874 by the engineer Mara Quell."
    )
    assert find_on_pdf(pdf, "a sentence that is not in the file") is None
    # not in any text layer, on the page the location names (a scanned page's OCR text)
    doc, page, chars = find_on_pdf(pdf, "words read by OCR", location="page 2")
    doc.close()
    assert (page, chars) == (1, [])
    assert find_on_pdf(pdf, "words read by OCR", location="page 9") is None


def test_the_page_image_highlights_the_quote_lines_only(pdf: Path) -> None:
    from PIL import Image

    number, png, marked = pdf_page_png(pdf, "built in 1874 by the engineer Mara Quell.")
    assert number == 2 and marked
    image = Image.open(io.BytesIO(png)).convert("RGB")
    rows = {y for y in range(image.height) for x in range(0, image.width, 3)
            if image.getpixel((x, y))[2] < 120 and image.getpixel((x, y))[0] > 200}
    lines = {round(792 - y / 1.5) for y in rows}  # back to PDF points, from the bottom
    assert rows and all(695 < pt < 735 for pt in lines), sorted(lines)  # 720 and 706, not 600


def test_document_view_of_a_pdf_and_of_a_text(pdf: Path, tmp_path: Path) -> None:
    text = ("Lighthouses of the Northern Coast\n\nThe Harrowgate lighthouse was built in 1874 by "
            "the engineer Mara Quell.\nIts lamp is visible from 31 kilometres away.")
    start = text.index("built")
    end = text.index("Quell.") + len("Quell.")
    record = DocumentRecord(str(pdf), "Lighthouses", text, "sha", 1, "now", path=str(pdf))
    html = document_view(record, start, end, name="coast.pdf")
    assert 'data-page="2" data-marked="true"' in html and "data:image/png;base64," in html
    assert '<mark id="docview-quote">built in 1874 by the engineer Mara Quell.</mark>' in html
    assert '<b class="title">Lighthouses</b>' in html
    pdf.unlink()  # the file went away: the text still shows, and the page says why no image
    gone = document_view(record, start, end)
    assert "could not be shown" in gone and "<img" not in gone and "<mark" in gone
    note = tmp_path / "note.txt"
    plain = document_view(DocumentRecord(str(note), "", text, "s", 1, "now"), start, end)
    assert "<figure" not in plain and '<b class="title">note.txt</b>' in plain
    with pytest.raises(ValueError, match="ask again"):
        document_view(record, end, start)


def _citation(marker: int, **kw: object) -> Citation:
    return Citation("/d/a.md", "Quote.", 10, 16, 0.9, marker=marker, passage="Lead. Quote.",
                    passage_start=4, **kw)


def test_markers_link_to_their_sources_and_back() -> None:
    answer = Answer("q?", "One [1]. Two [2][3].", False,
                    citations=[_citation(1), _citation(2)],
                    sentences=[SentenceCheck("Gone.", (4,), False, 0.1, "unsupported")])
    md = answer_markdown(answer, key=3)
    assert md.startswith("One [[1]](#source-3-1). Two [[2]](#source-3-2)[3].")  # [3]: no source
    assert "1 unsupported sentence(s) removed" in md
    assert unlink_markers(md).startswith("One [1]. Two [2][3].")
    turns = history_turns([{"role": "user", "content": "q?"},
                           {"role": "assistant", "content": md}])
    assert turns == [("q?", "One [1]. Two [2][3].")]
    html = sources_html(answer, key=3)
    assert 'id="source-3-1"' in html and 'id="source-3-2"' in html


def test_sources_name_title_location_or_section() -> None:
    located = _citation(1, title="Costs 2024", location="page 3", section="Intro", name="a.md")
    html = sources_html(Answer("q?", "A [1].", False, citations=[located]))
    assert '<span class="title">Costs 2024</span> <span class="where">page 3</span>' in html
    assert '<span class="doc" title="/d/a.md">a.md</span>' in html and "Intro" not in html
    assert 'data-source="/d/a.md" data-start="10" data-end="16"' in html
    sectioned = _citation(1, title="Guide", section="Setup › Logging", name="a.md")
    assert '<span class="where">Setup › Logging</span>' in sources_html(
        Answer("q?", "A [1].", False, citations=[sectioned]))
    early = passages_html([Passage("/d/b.pdf", "Report", "Some <text>.", 5, 17, 0.8,
                                   section="", name="b.pdf", location="page 2")])
    assert "Retrieved 1 passage;" in early and '<span class="where">page 2</span>' in early
    assert "Some &lt;text&gt;." in early and 'data-start="5" data-end="17"' in early
    assert "No passage was found" in passages_html([])
