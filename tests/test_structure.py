"""Documents read by structure: HTML blocks and heading paths, Markdown sections, PDF paragraphs,
running headers, tables and outline; chunks stay inside sections and carry their path."""

from __future__ import annotations

import io
from pathlib import Path

from askai.answer import build_messages
from askai.engine import Engine
from askai.ingest.chunking import Chunker
from askai.ingest.html import load_html
from askai.ingest.loaders import load_file
from askai.ingest.markdown import markdown_sections
from askai.ingest.structure import Section, TextBuilder, section_at, short_path

from .pdfs import make_pdf

MB = 1_000_000

SPHINX_PAGE = """<html><head><title>datetime — Basic date and time types</title></head><body>
<div class="related" role="navigation"><ul><li><a href="index.html">index</a></li></ul></div>
<div class="body" role="main">
<section id="m"><h1>datetime — Basic date and time types<a class="headerlink" href="#m">¶</a></h1>
<p>The <code class="xref">datetime</code> module supplies classes.</p>
<section id="f"><h2>Format Codes<a class="headerlink" href="#f">¶</a></h2>
<p>The following codes are supported:</p>
<table><thead><tr><th>Directive</th><th>Meaning</th><th>Example</th></tr></thead>
<tbody><tr><td><p><code>%d</code></p></td><td><p>Day of the month as a zero-padded number.</p></td>
<td><p>01, 02, …, 31</p></td></tr>
<tr><td><p><code>%b</code></p></td><td><p>Month as abbreviated name.</p></td>
<td><p>Jan</p></td></tr>
</tbody></table>
<dl class="py method"><dt class="sig" id="date.replace"><span class="pre">date.</span><span
class="sig-name">replace</span>(<em>year</em>=<em>self.year</em>)<a class="headerlink">¶</a></dt>
<dd><p>Return a date with the same value.</p><p>The default is the current year.</p></dd></dl>
<ul><li><p>Aware objects carry a time zone.</p></li><li><p>Naive objects do not:</p>
<ul><li><p>they are simpler.</p></li></ul></li></ul>
<pre>&gt;&gt;&gt; date(2002, 12, 4)
datetime.date(2002, 12, 4)</pre>
<p>After the methods.</p>
</section></section></div>
<div class="footer">© Copyright.</div><footer>Built with Sphinx.</footer></body></html>"""


def test_html_is_read_by_blocks_with_heading_paths() -> None:
    text, title, sections = load_html(SPHINX_PAGE)
    assert title == "datetime — Basic date and time types"
    assert "index" not in text.split("\n")[0] and "Built with Sphinx" not in text
    assert "¶" not in text
    lines = text.split("\n")
    assert "The datetime module supplies classes." in lines  # inline code kept in the sentence
    # a table row with its header, one line per row
    assert ("Directive: %d | Meaning: Day of the month as a zero-padded number. | "
            "Example: 01, 02, …, 31") in lines
    assert "Directive: %b | Meaning: Month as abbreviated name. | Example: Jan" in lines
    # a definition term (an API signature) heads its description; the path closes after it
    assert "date.replace(year=self.year)" in lines
    at = text.index("The default is the current year.")
    assert section_at(sections, at) == (
        "datetime — Basic date and time types › Format Codes › date.replace(year=self.year)"
    )
    assert section_at(sections, text.index("After the methods.")).endswith("› Format Codes")
    # list items one per line, nested ones indented; code keeps its lines
    assert "- Aware objects carry a time zone." in lines
    assert "  - they are simpler." in lines
    assert ">>> date(2002, 12, 4)\ndatetime.date(2002, 12, 4)" in text


def test_loaded_html_offsets_and_sections(tmp_path: Path) -> None:
    page = tmp_path / "dt.html"
    page.write_text(SPHINX_PAGE, encoding="utf-8")
    doc = load_file(page, max_bytes=MB)
    assert doc.sections[0] == Section(0, "datetime — Basic date and time types")
    assert all(a.start < b.start for a, b in zip(doc.sections, doc.sections[1:], strict=False))


def test_markdown_sections_come_from_a_parser() -> None:
    text = ("Intro line.\n\n# Setup\n\nInstall it.\n\n```sh\n# not a heading\n```\n\n"
            "Options\n-------\n\nUse -v.\n\n## Logging\n\nLogs rotate.\n")
    sections = markdown_sections(text)
    assert [s.path for s in sections] == ["Setup", "Setup › Options", "Setup › Logging"]
    assert text[sections[0].start:].startswith("# Setup")
    assert section_at(sections, text.index("# not a heading")) == "Setup"
    assert section_at(sections, text.index("Use -v")) == "Setup › Options"
    assert section_at(sections, text.index("Logs rotate")) == "Setup › Logging"  # h2 after h2
    assert section_at(sections, 0) == ""


def test_chunks_stay_inside_sections() -> None:
    b = TextBuilder()
    b.heading(1, "Alpha")
    b.block("Alpha has one sentence. " * 3)
    b.heading(2, "Beta")
    b.block("Beta talks about something else entirely. " * 3)
    text, sections = b.text(), b.sections()
    spans = Chunker(160, 32).split(text, sections=sections)
    assert [s.section for s in spans] == ["Alpha", "Alpha › Beta"]
    for s in spans:
        assert text[s.start:s.end] == s.text
    assert short_path("A › B › C", max_chars=4) == "C"
    assert short_path("A › B › C") == "A › B › C"


def _with_outline(data: bytes, entries: list[tuple[str, int, str | None]]) -> bytes:
    """Add bookmarks (title, page, parent title) with pypdf."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    made = {}
    for title, page, parent in entries:
        made[title] = writer.add_outline_item(title, page, parent=made.get(parent))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_pdf_paragraphs_headers_tables_and_outline(tmp_path: Path) -> None:
    def page(n: int, body: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
        return [(72, 750, "Quokka Field Guide"), (300, 40, str(n)), *body]

    pages = [
        page(1, [(72, 700, "1 Habitat"),
                 (72, 670, "Quokkas live on Rottnest Island, where they shelter in dense"),
                 (72, 656, "scrub during the hottest part of the day and feed at dusk on"),
                 (72, 642, "grasses and leaves. Their popu-"),
                 (72, 628, "lation is stable.")]),
        page(2, [(72, 700, "2 Diet"),
                 (72, 670, "Season"), (72, 656, "Summer"), (72, 642, "Winter"),
                 (260, 670, "Main food"), (260, 656, "Dry grass"), (260, 642, "Fresh shoots")]),
        page(3, [(72, 700, "2.1 Water"),
                 (72, 670, "Quokkas can go without drinking for a month when plants hold"),
                 (72, 656, "enough water.")]),
    ]
    path = tmp_path / "guide.pdf"
    path.write_bytes(_with_outline(make_pdf(pages), [
        ("1 Habitat", 0, None), ("2 Diet", 1, None), ("2.1 Water", 2, "2 Diet")]))
    doc = load_file(path, max_bytes=MB)
    text = doc.text
    assert "Quokka Field Guide" not in text  # a running header
    assert "\n2\n" not in f"\n{text}\n" and not text.rstrip().endswith("3")  # page numbers
    # lines of a paragraph joined; a word hyphenated at the line end made whole
    assert ("Quokkas live on Rottnest Island, where they shelter in dense scrub during the hottest "
            "part of the day and feed at dusk on grasses and leaves. Their population is stable."
            ) in text
    # a table's columns put back together as rows
    assert "Summer | Dry grass" in text and "Winter | Fresh shoots" in text
    at = text.index("Quokkas can go without drinking")
    assert section_at(doc.sections, at) == "2 Diet › 2.1 Water"
    assert section_at(doc.sections, text.index("Summer")) == "2 Diet"
    assert section_at(doc.sections, text.index("Rottnest")) == "1 Habitat"


def test_sections_reach_the_prompt(engine: Engine, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "dt.html").write_text(SPHINX_PAGE, encoding="utf-8")
    engine.ingest([docs], progress=False)
    passages = engine.retrieve("What is the default year of date.replace?")
    best = next(p for p in passages if "The default is the current year." in p.text)
    assert best.section.endswith("Format Codes › date.replace(year=self.year)")
    prompt = build_messages("q", [best])[1]["content"]
    assert "(datetime — Basic date and time types › Format Codes › date.replace(year=self.year))" \
        in prompt or "(Format Codes › date.replace(year=self.year))" in prompt
    chunks = engine.store.chunks_of((docs / "dt.html").resolve().as_posix())
    chunk = next(c for c in chunks if c.section == best.section)
    assert "The default is the current year." in chunk.text


def test_a_chosen_sentence_brings_its_paragraph(engine: Engine, tmp_path: Path) -> None:
    """Evidence units: a short paragraph (a list item, a table row) comes whole; with
    ``max_unit_chars`` 0 only the sentence does."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(
        "# Rotation\n\nLogs are kept for a while. The retention period is 14 days. "
        "Older logs are compressed first.\n\nAn unrelated paragraph about printers follows here.\n",
        encoding="utf-8",
    )
    engine.ingest([docs], progress=False)
    engine.settings.retrieval.max_sources = 1  # the best unit alone
    question = "What is the retention period?"
    whole = engine.retrieve(question)[0]
    assert whole.text == ("Logs are kept for a while. The retention period is 14 days. "
                          "Older logs are compressed first.")
    assert whole.section == "Rotation"
    engine.settings.retrieval.max_unit_chars = 0
    alone = engine.retrieve(question)[0]
    assert alone.text == "The retention period is 14 days."
