"""Word, PowerPoint, Excel, CSV, EPUB and scanned PDFs: each made here with the library that writes
it, read back by askai with its title and locations, answered from with an exact, located quote;
bad input (password-protected, corrupt, zip bombs, a million empty cells, images without text)
refused per file while the rest is ingested."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from askai.engine import Engine
from askai.errors import IngestError
from askai.ingest import sheets
from askai.ingest.loaders import load_file
from askai.ingest.structure import section_at
from askai.locations import Location, label_of, within

from .conftest import ScriptedLLM, make_settings
from .pdfs import encrypted, make_pdf

MB = 20_000_000


# -- files, made with the libraries that write them -----------------------------------------------

def make_docx(path: Path, *, title: str = "Harbour Field Guide") -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.add_heading("Lighthouses", level=1)
    d.add_paragraph("The Harrowgate lighthouse stands on the eastern breakwater.")
    d.add_heading("Keepers", level=2)
    d.add_paragraph("Each keeper kept a log of the weather.")
    d.add_paragraph("Check the lamp at dusk", style="List Bullet")
    d.add_paragraph("Wind the clockwork every four hours", style="List Bullet")
    d.add_paragraph("Polish the lens", style="List Bullet 2")
    table = d.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [("Keeper", "Years"), ("Mara Quell", "1874-1901"),
                                       ("Ivo Brandt", "1901-1933")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    d.add_heading("Ferries", level=1)
    d.add_paragraph("The night ferry to Pennick leaves at 23:40 from pier seven.")
    d.save(path)
    return path


def make_pptx(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    p = pptx.Presentation()
    p.core_properties.title = "PowerPoint Presentation"  # PowerPoint's default: names nothing
    s1 = p.slides.add_slide(p.slide_layouts[0])
    s1.shapes.title.text = "Quarterly Bakery Review"
    s1.placeholders[1].text = "Orvale Bakery, spring"
    s2 = p.slides.add_slide(p.slide_layouts[1])
    s2.shapes.title.text = "Ovens"
    body = s2.placeholders[1].text_frame
    body.text = "The wood-fired oven bakes 340 loaves of rye bread a day."
    body.add_paragraph().text = "It was rebuilt in 2019."
    s2.notes_slide.notes_text_frame.text = "Mention the new chimney."
    s3 = p.slides.add_slide(p.slide_layouts[5])
    s3.shapes.title.text = "Staff"
    shape = s3.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, cells in enumerate([("Role", "People"), ("Bakers", "5"), ("Drivers", "2")]):
        for c, text in enumerate(cells):
            shape.table.cell(r, c).text = text
    p.save(path)
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Costs"
    ws.append(["Item", "Cost", "Supplier"])
    ws.append(["Flour", 412.5, "Pennick Mills"])
    ws.append([None, None, None])  # an empty row, skipped
    ws.append(["Firewood", 96, "Quell Forestry"])
    staff = wb.create_sheet("Staff")
    staff.append(["Name", "Role"])
    staff.append(["Ada Brook", "head baker"])
    wb.save(path)
    return path


def make_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("askai-test")
    book.set_title("Tales of the Northern Coast")
    book.set_language("en")
    c1 = epub.EpubHtml(title="Fog", file_name="c1.xhtml", lang="en")
    c1.content = "<h1>Fog</h1><p>The fog horn at Skerry Point sounds twice a minute.</p>"
    c2 = epub.EpubHtml(title="Seals", file_name="c2.xhtml", lang="en")
    c2.content = "<h1>Seals</h1><p>Grey seals pup on the skerries in November.</p>"
    book.add_item(c1)
    book.add_item(c2)
    book.toc = (c1, c2)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", c1, c2]
    epub.write_epub(str(path), book)
    return path


def scan(lines: list[str], size: tuple[int, int] = (1100, 360)) -> bytes:
    """A scanned page: ``lines`` rendered to an image (Pillow), wrapped in a PDF without a text
    layer."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=34)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 52 * i), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="PDF", resolution=200)
    return out.getvalue()


def text_then_scan(path: Path) -> Path:
    """Page 1 with a text layer, page 2 a scan."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for part in (make_pdf([[(72, 720, "The archive opens at nine on weekdays.")]]),
                 scan(["The cellar holds 412 barrels of cider.", "Visitors may taste it."])):
        writer.append(PdfReader(io.BytesIO(part)))
    with path.open("wb") as f:
        writer.write(f)
    return path


# -- each format ----------------------------------------------------------------------------------

def test_docx_headings_lists_and_tables(tmp_path: Path) -> None:
    doc = load_file(make_docx(tmp_path / "guide.docx"), max_bytes=MB)
    assert doc.title == "Harbour Field Guide"
    text = doc.text
    assert "- Check the lamp at dusk\n- Wind the clockwork every four hours\n  - Polish the lens" \
        in text
    assert "Keeper: Mara Quell | Years: 1874-1901\nKeeper: Ivo Brandt | Years: 1901-1933" in text
    assert section_at(doc.sections, text.index("Mara Quell")) == "Lighthouses › Keepers"
    assert section_at(doc.sections, text.index("night ferry")) == "Ferries"
    assert doc.locations == []  # Word has no pages to cite: its heading path is the location
    # no title in the properties: the first heading
    untitled = load_file(make_docx(tmp_path / "untitled.docx", title=""), max_bytes=MB)
    assert untitled.title == "Lighthouses"


def test_pptx_slide_by_slide(tmp_path: Path) -> None:
    doc = load_file(make_pptx(tmp_path / "review.pptx"), max_bytes=MB)
    assert doc.title == "Quarterly Bakery Review"
    text = doc.text
    at = text.index("340 loaves")
    assert label_of(doc.locations, at, at + 10) == "slide 2"
    assert section_at(doc.sections, at) == "Ovens"
    assert "Notes: Mention the new chimney." in text
    assert "Role: Bakers | People: 5\nRole: Drivers | People: 2" in text
    assert label_of(doc.locations, text.index("Drivers"), text.index("Drivers") + 1) == "slide 3"
    assert [loc.label for loc in doc.locations] == ["slide 1", "slide 2", "slide 3"]


def test_xlsx_rows_with_headers_per_sheet(tmp_path: Path) -> None:
    doc = load_file(make_xlsx(tmp_path / "accounts.xlsx"), max_bytes=MB)
    assert doc.title == "accounts"  # no title in the properties, no heading: the file name
    text = doc.text
    assert "Item: Flour | Cost: 412.5 | Supplier: Pennick Mills\n" \
           "Item: Firewood | Cost: 96 | Supplier: Quell Forestry" in text
    at = text.index("Firewood")
    assert label_of(doc.locations, at, at + 5) == "sheet Costs, row 4"  # Excel's row number
    at = text.index("Ada Brook")
    assert label_of(doc.locations, at, at + 5) == "sheet Staff, row 2"
    assert section_at(doc.sections, at) == "Sheet Staff"


def test_csv_rows_with_headers(tmp_path: Path) -> None:
    path = tmp_path / "ferries.csv"
    path.write_text("route;departs;pier\nPennick;23:40;7\n\nSkerry Point;06:15;2\n")
    doc = load_file(path, max_bytes=MB)
    assert doc.text == ("route: Pennick | departs: 23:40 | pier: 7\n"
                        "route: Skerry Point | departs: 06:15 | pier: 2")
    assert [loc.label for loc in doc.locations] == ["row 2", "row 4"]
    assert doc.title == "ferries"
    single = tmp_path / "one.csv"
    single.write_text("\nonly,one,row\n")
    one = load_file(single, max_bytes=MB)
    assert (one.text, [loc.label for loc in one.locations]) == ("only | one | row", ["row 2"])


def test_epub_chapters(tmp_path: Path) -> None:
    doc = load_file(make_epub(tmp_path / "tales.epub"), max_bytes=MB)
    assert doc.title == "Tales of the Northern Coast"
    at = doc.text.index("Grey seals")
    assert section_at(doc.sections, at) == "Seals"
    assert doc.text.index("fog horn") < at


def test_scanned_page_is_read_by_ocr_and_the_text_layer_is_not(tmp_path: Path) -> None:
    doc = load_file(text_then_scan(tmp_path / "archive.pdf"), max_bytes=MB)
    text = doc.text
    assert "The archive opens at nine on weekdays." in text
    assert re.search(r"The cellar holds 412 barrels of cider\.? Visitors may taste it", text), text
    first, second = text.index("archive opens"), text.index("cellar")
    assert label_of(doc.locations, first, first + 5) == "page 1"  # a text layer: not OCR'd
    assert label_of(doc.locations, second, second + 5) == "page 2 (OCR)"


def test_with_ocr_off_a_scan_is_left_out_and_an_image_refused(tmp_path: Path) -> None:
    doc = load_file(text_then_scan(tmp_path / "archive.pdf"), max_bytes=MB, ocr=False)
    assert doc.text == "The archive opens at nine on weekdays."
    assert [loc.label for loc in doc.locations] == ["page 1"]
    only_scan = tmp_path / "scan.pdf"
    only_scan.write_bytes(scan(["Nothing to read without OCR."]))
    with pytest.raises(IngestError, match="no text layer .* OCR is off"):
        load_file(only_scan, max_bytes=MB, ocr=False)
    with pytest.raises(IngestError, match="an image, read only by OCR; OCR is off"):
        load_file(blank_image(tmp_path / "photo.png"), max_bytes=MB, ocr=False)


def test_a_scan_on_a_huge_page_is_rendered_within_bounds(tmp_path: Path) -> None:
    """A page may declare any size (here 600 by 180 inches): it is rendered at most
    ocr.MAX_SIDE pixels wide, not at 300 dpi (180,000 by 54,000 pixels)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1200, 360), 255)
    ImageDraw.Draw(image).text((40, 120), "The ferry carries 96 cars.", fill=0,
                               font=ImageFont.load_default(size=60))
    out = io.BytesIO()
    image.save(out, format="PDF", resolution=2)  # 1200 pixels at 2 dpi: 600 inches wide
    path = tmp_path / "poster.pdf"
    path.write_bytes(out.getvalue())
    doc = load_file(path, max_bytes=MB)
    assert "ferry carries 96 cars" in doc.text
    assert [loc.label for loc in doc.locations] == ["page 1 (OCR)"]


def test_html_title_is_its_title_else_its_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<html><body><p>Intro line.</p><h1>Tide Tables</h1><p>High water.</p>"
                    "</body></html>")
    assert load_file(path, max_bytes=MB).title == "Tide Tables"
    path.write_text("<html><head><title>Harbour</title></head><body><h1>Tide Tables</h1>"
                    "</body></html>")
    assert load_file(path, max_bytes=MB).title == "Harbour"


def test_locations_of_spans() -> None:
    marks = [Location(0, "row", 2, "sheet A"), Location(10, "row", 3, "sheet A"),
             Location(20, "row", 2, "sheet B"), Location(30, "page", 4, note="OCR")]
    assert label_of(marks, 12, 15) == "sheet A, row 3"
    assert label_of(marks, 5, 15) == "sheet A, rows 2–3"
    assert label_of(marks, 15, 25) == "sheet A, row 3 – sheet B, row 2"
    assert label_of(marks, 31, 33) == "page 4 (OCR)"
    pages = [Location(0, "page", 1), Location(10, "page", 2, note="OCR")]
    assert label_of(pages, 5, 15) == "pages 1–2 (page 2 OCR)"
    assert label_of([], 0, 5) == ""
    assert within(marks, 15, 25) == (Location(15, "row", 3, "sheet A"), marks[2])


# -- bad input ------------------------------------------------------------------------------------

def encrypted_docx(path: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = make_docx(path.with_suffix(".plain.docx")).read_bytes()
    path.with_suffix(".plain.docx").unlink()
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(plain)).encrypt("secret", out)
    path.write_bytes(out.getvalue())
    return path


def zip_bomb(path: Path, member: str) -> Path:
    """A valid-looking Office file whose ``member`` inflates 5 MB of zeros from a few KB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(member, b"\0" * 5_000_000)
    return path


def zip_of(path: Path, members: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)


def million_empty_cells(path: Path) -> Path:
    """A workbook whose sheet holds two real rows, then 1,000 rows of 1,000 empty formatted cells,
    and declares itself the size of a whole sheet (A1:XFD1048576)."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Ledger"
    ws.append(["Account", "Balance"])
    ws.append(["Harbour fund", 77031])
    buf = io.BytesIO()
    wb.save(buf)
    columns = [get_column_letter(i) for i in range(1, 1001)]
    empty = "".join(
        f'<row r="{r}">' + "".join(f'<c r="{c}{r}" s="0"/>' for c in columns) + "</row>"
        for r in range(3, 1003)
    )
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                xml = data.decode().replace("</sheetData>", empty + "</sheetData>")
                xml = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', xml)
                data = xml.encode()
            out.writestr(info, data)
    return path


def blank_image(path: Path) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(image).rectangle((50, 50, 350, 250), outline="black", width=3)
    image.save(path)
    return path


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("locked.docx", encrypted_docx, "password-protected Word document"),
        ("old.pptx", lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
         "old binary Office file"),
        ("cut.docx", lambda p: p.write_bytes(make_docx(p).read_bytes()[:3000]),
         "damaged zip archive"),
        ("bomb.docx", lambda p: zip_bomb(p, "word/document.xml"), "zip bomb"),
        ("bomb.xlsx", lambda p: zip_bomb(p, "xl/worksheets/sheet1.xml"), "zip bomb"),
        ("notword.docx", lambda p: zip_of(p, {"a.txt": "hi"}), "damaged Word document"),
        ("blank.png", blank_image, "no text found"),
        ("broken.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40),
         "not a readable image"),
        ("empty.csv", lambda p: p.write_text("\n\n"), "no text"),
    ],
)
def test_bad_input_gets_a_clear_reason(tmp_path: Path, name: str, make, reason: str) -> None:  # noqa: ANN001
    path = tmp_path / name
    make(path)
    with pytest.raises(IngestError, match=reason) as info:
        load_file(path, max_bytes=MB)
    assert info.value.path == str(path)


def test_a_million_empty_cells_cost_only_what_is_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = million_empty_cells(tmp_path / "ledger.xlsx")
    doc = load_file(path, max_bytes=MB)
    assert doc.text == "Account: Harbour fund | Balance: 77031"
    assert [loc.label for loc in doc.locations] == ["sheet Ledger, row 2"]
    monkeypatch.setattr(sheets, "MAX_CELLS", 100_000)  # the cap holds whatever the file claims
    with pytest.raises(IngestError, match="more than 100,000 cells"):
        load_file(path, max_bytes=MB)


# -- ingested and answered ------------------------------------------------------------------------

FACTS = {  # file -> (question, a sentence of the answer copied from the file, location)
    "guide.docx": ("When does the night ferry to Pennick leave?",
                   "The night ferry to Pennick leaves at 23:40 from pier seven.", ""),
    "review.pptx": ("How many loaves does the wood-fired oven bake a day?",
                    "The wood-fired oven bakes 340 loaves of rye bread a day.", "slide 2"),
    "accounts.xlsx": ("Who supplies the firewood?",
                      "Item: Firewood | Cost: 96 | Supplier: Quell Forestry",
                      "sheet Costs, row 4"),
    "archive.pdf": ("How many barrels of cider does the cellar hold?",
                    "The cellar holds 412 barrels of cider.", "page 2 (OCR)"),
    "tales.epub": ("When do grey seals pup on the skerries?",
                   "Grey seals pup on the skerries in November.", ""),
    "ferries.csv": ("When does the ferry on the Skerry Point route depart?",
                    "route: Skerry Point | departs: 06:15", "row 2"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats") / "docs"
    root.mkdir()
    make_docx(root / "guide.docx")
    make_pptx(root / "review.pptx")
    make_xlsx(root / "accounts.xlsx")
    text_then_scan(root / "archive.pdf")
    make_epub(root / "tales.epub")
    (root / "ferries.csv").write_text("route,departs\nSkerry Point,06:15\n")
    # bad ones: each its own failure, the rest ingested
    encrypted_docx(root / "locked.docx")
    zip_bomb(root / "bomb.xlsx", "xl/worksheets/sheet1.xml")
    (root / "locked.pdf").write_bytes(encrypted(make_pdf([[(72, 720, "Secret.")]]),
                                                user_password="pw"))
    blank_image(root.parent / "blank.png")  # outside the folder, named directly: read by OCR
    blank_image(root / "holiday.jpg")  # a folder's pictures are not documents: not read
    return root


@pytest.fixture(scope="module")
def ingested(folder: Path, tmp_path_factory: pytest.TempPathFactory, embedder) -> Engine:  # noqa: ANN001
    engine = Engine(make_settings(tmp_path_factory.mktemp("index")), embedder=embedder)
    report = engine.ingest([folder, folder.parent / "blank.png"], progress=False)
    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failed) == {"locked.docx", "bomb.xlsx", "locked.pdf", "blank.png"}, failed
    assert "password-protected" in failed["locked.docx"]
    assert "zip bomb" in failed["bomb.xlsx"]
    assert "password-protected" in failed["locked.pdf"]
    assert "no text found" in failed["blank.png"]
    assert report.documents == 6
    return engine


def test_every_format_is_ingested_with_its_title(ingested: Engine) -> None:
    titles = {Path(d.doc_id).name: d.title for d in ingested.documents()}
    assert titles == {
        "guide.docx": "Harbour Field Guide", "review.pptx": "Quarterly Bakery Review",
        "accounts.xlsx": "accounts", "archive.pdf": "The archive opens at nine on weekdays.",
        "tales.epub": "Tales of the Northern Coast", "ferries.csv": "ferries",
    }
    for d in ingested.documents():
        assert d.path.endswith(Path(d.doc_id).name)  # the file path stays available


@pytest.mark.parametrize("name", list(FACTS))
def test_each_format_answers_with_an_exact_located_quote(ingested: Engine, name: str) -> None:
    question, sentence, location = FACTS[name]
    passages = ingested.retrieve(question)
    marker = next(i for i, p in enumerate(passages, start=1) if sentence in p.text)
    assert Path(passages[marker - 1].source).name == name  # only that file says it
    # the passage's location covers its span (it may run over several: "rows 2–4", "pages 1–2")
    shown = passages[marker - 1].location
    unit = location.split(" ")[0]
    assert shown == location or (location and shown.startswith(unit)), shown
    ingested._llm = ScriptedLLM(f"{sentence.rstrip('.')} [{marker}].")
    answer = ingested.ask(question)
    assert not answer.refused, answer.sentences
    (c,) = answer.citations
    assert Path(c.source).name == name and sentence.rstrip(".") in c.quote
    assert ingested.document_text(c.source)[c.start : c.end] == c.quote
    assert c.location == location
    assert c.title == next(d.title for d in ingested.documents() if d.doc_id == c.source)


def test_chunks_keep_their_locations_in_the_store(ingested: Engine) -> None:
    (doc,) = [d for d in ingested.documents() if d.doc_id.endswith("review.pptx")]
    chunks = ingested.store.chunks_of(doc.doc_id)
    labels = {loc.label for c in chunks for loc in c.locations}
    assert labels == {"slide 1", "slide 2", "slide 3"}
    for c in chunks:
        assert c.locations and c.locations[0].start == c.start


def test_the_cli_shows_each_source_with_its_title_and_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from askai.cli import main
    from askai.llm.base import LLM_BACKENDS

    monkeypatch.setenv("ASKAI_STORE__PATH", str(tmp_path / "chroma"))
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pptx(docs / "review.pptx")
    sentence = "The wood-fired oven bakes 340 loaves of rye bread a day"
    monkeypatch.setitem(LLM_BACKENDS, "llama-cpp", lambda settings: ScriptedLLM(f"{sentence} [1]."))
    assert main(["ingest", str(docs), "--quiet"]) == 0
    assert main(["documents"]) == 0
    assert "Quarterly Bakery Review" in capsys.readouterr().out
    assert main(["ask", "How many loaves does the wood-fired oven bake a day?"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[1\] Quarterly Bakery Review — slide 2 — Ovens \(review\.pptx, "
                     r"characters \d+-\d+\): \"The wood-fired oven bakes 340 loaves", out), out
