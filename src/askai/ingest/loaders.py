"""Turn one file into the text askai indexes, with its sections (heading paths) and locations.

For .txt and .md files that text is the file's own text, unchanged, so citation offsets point into
the file itself (Markdown's headings give its sections). HTML is read by its structure
(:mod:`askai.ingest.html`), PDF by page and paragraph with its outline, scanned pages by OCR
(:mod:`askai.ingest.pdf`, :mod:`askai.ingest.ocr`), Word and PowerPoint by paragraph, table and
slide (:mod:`askai.ingest.office`), Excel and CSV by row (:mod:`askai.ingest.sheets`), EPUB by
chapter (:mod:`askai.ingest.epub`), images by OCR.
"""

from __future__ import annotations

import codecs
from dataclasses import replace
from pathlib import Path

from askai.errors import IngestError
from askai.ingest.structure import LoadedDocument

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
OFFICE_SUFFIXES = {".docx", ".pptx"}
SHEET_SUFFIXES = {".xlsx", ".csv"}
EPUB_SUFFIXES = {".epub"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
SUPPORTED_SUFFIXES = (TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | OFFICE_SUFFIXES
                      | SHEET_SUFFIXES | EPUB_SUFFIXES | IMAGE_SUFFIXES)

__all__ = ["IMAGE_SUFFIXES", "SUPPORTED_SUFFIXES", "LoadedDocument", "decode_text", "load_file"]


_BOMS = (  # UTF-32's little-endian mark starts like UTF-16's: test it first
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, path: Path) -> str:
    """The text of a file's bytes.

    UTF-8 (the fast path) is kept verbatim, its byte-order mark too, so the text is the file's; a
    UTF-16 or UTF-32 byte-order mark chooses that encoding; anything else is detected by chardet
    (Latin-1, Windows-1252, GB18030, UTF-16 without a mark, ...). Bytes that chardet finds to be
    no text at all are refused as binary.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise IngestError(
                    path, f"starts with a {encoding.upper()} byte-order mark but is not valid "
                    f"{encoding.upper()} (byte {exc.start}: {exc.reason}); convert it to UTF-8"
                ) from exc
    if b"\x00" not in data:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    encoding = _detect_encoding(data, path)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise IngestError(
            path, f"is not valid UTF-8 and not valid {encoding} either ({exc}); convert it to "
            "UTF-8"
        ) from exc
    if "\x00" in text:
        raise IngestError(path, "looks like a binary file (it contains NUL characters), not text")
    return text


def _detect_encoding(data: bytes, path: Path) -> str:
    """chardet's best guess among today's encodings; Windows-1252 (Latin-1's superset, the most
    common one that is not UTF-8) where it is as likely as the best within 10%: a short French
    text scores Windows-1250 (Czech) a hair above it, which would turn "très" into "trčs"."""
    import chardet

    found = chardet.detect_all(data, encoding_era=chardet.EncodingEra.MODERN_WEB)
    best = found[0] if found else {}
    if not best.get("encoding"):
        kind = best.get("mime_type") or "not text"
        raise IngestError(path, f"looks like a binary file ({kind}), not text")
    western = next((f for f in found if str(f["encoding"]).lower() in _WESTERN), None)
    if western is not None and western["confidence"] >= 0.9 * best["confidence"]:
        return str(western["encoding"])
    return str(best["encoding"])


_WESTERN = {"windows-1252", "cp1252", "iso-8859-1", "latin-1", "iso8859-15", "iso-8859-15"}


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:150]
    return ""


def load_file(path: Path, *, max_bytes: int, ocr: bool = True) -> LoadedDocument:
    """Read one file; raise :class:`IngestError` naming the file and the reason. ``ocr``: read
    scanned PDF pages and images by OCR (off: such pages are left out, images refused)."""
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

    try:
        doc = _parse(path, suffix, data, ocr)
    except (IngestError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a parser's own bug on odd input is one file's error
        raise IngestError(
            path, f"could not be read ({type(exc).__name__}: {exc}); the file may be damaged, "
            "or this is a bug in a reader askai uses"
        ) from exc
    if not doc.text.strip():
        raise IngestError(path, "contains no text")
    title = " ".join(doc.title.split())[:150]
    return replace(doc, title=title or _first_line_title(doc.text) or path.stem)


def _parse(path: Path, suffix: str, data: bytes, ocr: bool) -> LoadedDocument:
    """The document in a file's bytes, by its type."""
    if suffix in PDF_SUFFIXES:
        from askai.ingest.pdf import load_pdf

        return load_pdf(path, data, ocr=ocr)
    if suffix in OFFICE_SUFFIXES:
        from askai.ingest.office import load_docx, load_pptx

        return (load_docx if suffix == ".docx" else load_pptx)(path, data)
    if suffix in SHEET_SUFFIXES:
        from askai.ingest.sheets import load_csv, load_xlsx

        if suffix == ".csv":
            return load_csv(path, decode_text(data, path))
        return load_xlsx(path, data)
    if suffix in EPUB_SUFFIXES:
        from askai.ingest.epub import load_epub

        return load_epub(path, data)
    if suffix in IMAGE_SUFFIXES:
        from askai.ingest.ocr import OCR_OFF, load_image

        if not ocr:
            raise IngestError(path, f"is an image, read only by OCR; {OCR_OFF}")

        return load_image(path, data)
    if suffix in HTML_SUFFIXES:
        from askai.ingest.html import load_html

        text, title, sections = load_html(decode_text(data, path))
        return LoadedDocument(text, title, sections)
    text = decode_text(data, path)
    if suffix in {".md", ".markdown"}:
        from askai.ingest.markdown import markdown_sections

        return LoadedDocument(text, "", markdown_sections(text))
    return LoadedDocument(text, "")
