"""Turn one file into the text askai indexes.

For .txt and .md files that text is the file's own text, unchanged, so citation offsets point into
the file itself. HTML is reduced to its visible text, PDF to its pages' text joined by blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from askai.errors import IngestError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    title: str


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


class _TextExtractor(HTMLParser):
    _BLOCK = {
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header",
        "footer", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "dt", "dd", "hr",
    }
    _SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts)
        lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in joined.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


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

    if suffix in PDF_SUFFIXES:
        text, title = _pdf_text(path, data)
    elif suffix in HTML_SUFFIXES:
        parser = _TextExtractor()
        parser.feed(decode_text(data, path))
        parser.close()
        text, title = parser.text(), parser.title.strip()
    else:
        text, title = decode_text(data, path), ""
    if not text.strip():
        raise IngestError(path, "contains no text")
    return LoadedDocument(text=text, title=title or _first_line_title(text) or path.stem)


def _pdf_text(path: Path, data: bytes) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.startswith(b"%PDF"):
        raise IngestError(path, "is not a PDF file (no %PDF header); it may be corrupt")
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(path, f"is a corrupt PDF ({type(exc).__name__}: {exc})") from exc
    return "\n\n".join(p for p in pages if p), title
