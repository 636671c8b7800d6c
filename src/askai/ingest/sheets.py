"""Spreadsheets: Excel workbooks (.xlsx, openpyxl) and CSV files (Python's csv module), row by
row, each row with its column headers.

A sheet's first non-empty row is its header; every later row becomes one line,
``Item: Coffee | Cost: 3.5`` (empty cells left out, a column without a header named by its
letter), marked with its place: "sheet Costs, row 14" (Excel's row number), or "row 14" in a
CSV file (the header is row 1). Each sheet is a section named after it. Empty rows are skipped.

Workbooks are read in openpyxl's streaming (read-only) mode with the declared sheet size ignored,
so a sheet claiming a million rows or a million empty formatted cells costs only what is in the
file; the cells read are capped at :data:`MAX_CELLS` (empty ones count: the file holds them).
Formulas give their last computed value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from askai.errors import IngestError
from askai.ingest.archives import open_zip
from askai.ingest.structure import LoadedDocument, TextBuilder

MAX_CELLS = 2_000_000  # cells read from one workbook, empty ones included


def _value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return " ".join(str(v).split())


def _rows(builder: TextBuilder, rows: Iterable[tuple[int, Sequence[Any]]], scope: str) -> None:
    """Write the rows (``(number, values)``) of one table: the first non-empty one is the header."""
    from openpyxl.utils import get_column_letter

    header: list[str] | None = None
    header_row = 0
    first = True
    for number, values in rows:
        cells = [_value(v) for v in values]
        if not any(cells):
            continue
        if header is None:
            header, header_row = cells, number
            continue
        parts = []
        for i, cell in enumerate(cells):
            if cell:
                name = header[i] if i < len(header) and header[i] else get_column_letter(i + 1)
                parts.append(f"{name}: {cell}")
        builder.locate("row", number, scope=scope)
        builder.block(" | ".join(parts), separator="\n\n" if first else "\n")
        first = False
    if header is not None and first:  # a sheet of one row: the row itself
        builder.locate("row", header_row, scope=scope)
        builder.block(" | ".join(c for c in header if c))


def load_xlsx(path: Path, data: bytes) -> LoadedDocument:
    import openpyxl

    open_zip(path, data, "Excel workbook").close()  # refused before openpyxl inflates anything
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except KeyError as exc:
        raise IngestError(path, f"is a damaged Excel workbook (a part is missing: {exc})") from exc
    except Exception as exc:
        if type(exc).__name__ == "InvalidFileException":
            raise IngestError(path, f"is not an Excel workbook ({exc})") from exc
        raise
    builder = TextBuilder()
    budget = [MAX_CELLS]
    try:
        for sheet in book.worksheets:
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()  # the declared size may claim a million rows: ignore it
            builder.heading(1, f"Sheet {sheet.title}", show=False)
            _rows(builder, _counted(path, sheet.iter_rows(values_only=True), budget),
                  f"sheet {sheet.title}")
        title = " ".join((book.properties.title or "").split()) if book.properties else ""
    finally:
        book.close()
    return builder.document(title or path.stem)


def _counted(path: Path, rows: Iterable[Sequence[Any]], budget: list[int]
             ) -> Iterable[tuple[int, Sequence[Any]]]:
    for number, row in enumerate(rows, start=1):
        budget[0] -= len(row)
        if budget[0] < 0:
            raise IngestError(path, f"has more than {MAX_CELLS:,} cells (empty formatted cells "
                              "count: the file stores them); delete the unused rows and "
                              "columns, or save the data as CSV")
        end = len(row)
        while end and row[end - 1] is None:
            end -= 1
        yield number, row[:end]


def load_csv(path: Path, text: str) -> LoadedDocument:
    """A CSV file (comma, semicolon, tab or pipe separated: sniffed) by row."""
    sample = text[:20_000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    builder = TextBuilder()
    try:
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        _rows(builder, enumerate(reader, start=1), "")
    except csv.Error as exc:
        raise IngestError(path, f"is not a readable CSV file ({exc})") from exc
    return builder.document(path.stem)
