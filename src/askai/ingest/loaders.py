"""Turn one file into the text askai indexes, with its sections (heading paths).

For .txt and .md files that text is the file's own text, unchanged, so citation offsets point into
the file itself (Markdown's headings give its sections). HTML is read by its structure
(:mod:`askai.ingest.html`), PDF by page and paragraph with its outline (:mod:`askai.ingest.pdf`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from askai.errors import IngestError
from askai.ingest.structure import Section

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    title: str
    sections: list[Section] = field(default_factory=list)


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM); GB18030 for Chinese text that is not UTF-8."""
    if b"\x00" in data[:8192]:
        raise IngestError(path, "looks like a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    if text and len(_CJK.findall(text)) >= 0.2 * len(text.strip()):
        return text
    raise IngestError(
        path,
        f"is not valid UTF-8 (byte {utf8_error.start}: {utf8_error.reason}) nor Chinese GB18030 "
        "text; convert it to UTF-8",
    )


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:150]
    return ""


def load_file(path: Path, *, max_bytes: int) -> LoadedDocument:
    """Read one file; raise :class:`IngestError` naming the file and the reason."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(
            path, f"unsupported file type {suffix or '(none)'}; askai reads "
            f"{', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(
                path, f"is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit "
                "(ASKAI_INGEST__MAX_FILE_MB)"
            )
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise IngestError(path, "vanished before it could be read") from exc
    except OSError as exc:
        raise IngestError(path, f"cannot be read: {exc.strerror or exc}") from exc

    sections: list[Section] = []
    if suffix in PDF_SUFFIXES:
        from askai.ingest.pdf import load_pdf

        text, title, sections = load_pdf(path, data)
    elif suffix in HTML_SUFFIXES:
        from askai.ingest.html import load_html

        text, title, sections = load_html(decode_text(data, path))
    else:
        text, title = decode_text(data, path), ""
        if suffix in {".md", ".markdown"}:
            from askai.ingest.markdown import markdown_sections

            sections = markdown_sections(text)
    if not text.strip():
        raise IngestError(path, "contains no text")
    return LoadedDocument(
        text=text, title=title or _first_line_title(text) or path.stem, sections=sections
    )
