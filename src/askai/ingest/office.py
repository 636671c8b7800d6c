"""Word (.docx, python-docx) and PowerPoint (.pptx, python-pptx) files by their structure.

- Word: paragraphs and tables in document order. Heading styles (``Heading 1``…, ``Title``) open
  sections; list paragraphs are ``- item`` lines, indented by level; a table is one line per row
  with its header, ``Item: Coffee | Cost: 3.50`` (as HTML tables are). Title: the document's
  properties, else its ``Title`` paragraph or first heading.
- PowerPoint: slide by slide, each marked "slide N"; a slide's title opens its section, then its
  shapes top to bottom, left to right (text frames line by line, tables by row, groups opened),
  then its speaker notes. Title: the properties, else the first slide's title.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from askai.errors import IngestError
from askai.ingest.archives import open_zip
from askai.ingest.structure import LoadedDocument, TextBuilder

_HEADING = re.compile(r"^heading\s*(\d)$", re.I)
# titles Office writes into a new file's properties: they name no document
_GENERIC_TITLES = {"powerpoint presentation", "presentation", "document", "untitled", "title"}


def _own_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    return "" if title.lower() in _GENERIC_TITLES else title


def table_lines(rows: list[list[str]]) -> list[str]:
    """A table's rows as lines, each with its header (the first row, when there are more)."""
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        return [" | ".join(c for c in r if c) for r in rows]
    header, lines = rows[0], []
    for cells in rows[1:]:
        if len(cells) == len(header):
            lines.append(" | ".join(f"{h}: {c}" if h else c
                                    for h, c in zip(header, cells, strict=True) if c))
        else:
            lines.append(" | ".join(c for c in cells if c))
    return lines


def _clean(text: str) -> str:
    return " ".join(text.split())


def _lines(builder: TextBuilder, lines: list[str]) -> None:
    for i, line in enumerate(ln for ln in lines if ln.strip()):
        builder.block(line, separator="\n\n" if i == 0 else "\n")


def _open(path: Path, data: bytes, kind: str, opener: Any) -> Any:
    open_zip(path, data, kind).close()  # refused before the library inflates anything
    try:
        return opener(io.BytesIO(data))
    except KeyError as exc:
        raise IngestError(path, f"is a damaged {kind} (a part is missing: {exc})") from exc
    except Exception as exc:
        if type(exc).__name__ == "PackageNotFoundError":
            raise IngestError(path, f"is not a {kind} (no Office document inside the zip); it "
                              "may be corrupt") from exc
        raise


# -- Word --------------------------------------------------------------------------------------

def load_docx(path: Path, data: bytes) -> LoadedDocument:
    import docx

    document = _open(path, data, "Word document", docx.Document)
    builder = TextBuilder()
    first_heading = title_paragraph = ""
    in_list = False
    for item in document.iter_inner_content():
        if item.__class__.__name__ == "Table":
            _lines(builder, table_lines(_docx_rows(item)))
            in_list = False
            continue
        text = _clean(item.text)
        if not text:
            continue
        was_list, in_list = in_list, False
        style = (item.style.name if item.style is not None else "") or ""
        level = _heading_level(style)
        if style.lower() == "title":
            title_paragraph = title_paragraph or text
            builder.heading(0, text)
        elif level:
            first_heading = first_heading or text
            builder.heading(level, text)
        elif (depth := _list_depth(item, style)) is not None:
            builder.block(f"{'  ' * depth}- {text}", separator="\n" if was_list else "\n\n")
            in_list = True
        else:
            builder.block(text)
    title = _own_title(document.core_properties.title) or title_paragraph or first_heading
    return builder.document(title)


def _heading_level(style: str) -> int:
    match = _HEADING.match(style.strip())
    return int(match.group(1)) if match else 0


def _list_depth(paragraph: Any, style: str) -> int | None:
    """A list item's nesting (0 outermost), None for other paragraphs."""
    ppr = paragraph._p.pPr
    numbering = ppr.numPr if ppr is not None else None
    if numbering is not None and numbering.ilvl is not None:
        return int(numbering.ilvl.val)
    if numbering is not None or style.lower().startswith("list"):
        match = re.search(r"(\d)$", style)
        return int(match.group(1)) - 1 if match else 0
    return None


def _docx_rows(table: Any) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # a merged cell is repeated for every grid column it spans
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(_clean(cell.text))
        rows.append(cells)
    return rows


# -- PowerPoint ----------------------------------------------------------------------------------

def load_pptx(path: Path, data: bytes) -> LoadedDocument:
    import pptx

    presentation = _open(path, data, "PowerPoint file", pptx.Presentation)
    builder = TextBuilder()
    first_title = ""
    for number, slide in enumerate(presentation.slides, start=1):
        builder.locate("slide", number)
        title_shape = slide.shapes.title
        title = _clean(title_shape.text_frame.text) if title_shape is not None and \
            title_shape.has_text_frame else ""
        first_title = first_title or title
        # an untitled slide still closes the section of the slide before it
        builder.heading(1, title or f"Slide {number}", show=bool(title))
        for shape in _reading_order(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if shape.has_text_frame:
                _lines(builder, [_clean(p.text) for p in shape.text_frame.paragraphs])
            elif getattr(shape, "has_table", False) and shape.has_table:
                _lines(builder, table_lines(
                    [[_clean(c.text) for c in row.cells] for row in shape.table.rows]
                ))
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            text = _clean(notes.text) if notes is not None else ""
            if text:
                builder.block(f"Notes: {text}")
    title = _own_title(presentation.core_properties.title) or first_title
    return builder.document(title)


def _reading_order(shapes: Any) -> Iterator[Any]:
    """Shapes top to bottom, then left to right; a group's shapes in its place."""
    def key(shape: Any) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=key):
        if shape.shape_type is not None and shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _reading_order(shape.shapes)
        else:
            yield shape
