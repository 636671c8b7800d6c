"""EPUB books (EbookLib): the chapters in reading order (the spine), each read as HTML by
:mod:`askai.ingest.html` into one text, so the headings of every chapter are its sections.
Title: the book's Dublin Core title."""

from __future__ import annotations

import io
from pathlib import Path

from askai.errors import IngestError
from askai.ingest.archives import open_zip
from askai.ingest.html import add_html
from askai.ingest.structure import LoadedDocument, TextBuilder


def load_epub(path: Path, data: bytes) -> LoadedDocument:
    import ebooklib
    from ebooklib import epub

    open_zip(path, data, "EPUB book").close()  # refused before EbookLib inflates anything
    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    except (epub.EpubException, KeyError) as exc:
        raise IngestError(path, f"is not a readable EPUB book ({exc}); it may be corrupt") from exc
    builder = TextBuilder()
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        add_html(builder, item.get_content().decode("utf-8", errors="replace"))
    found = book.get_metadata("DC", "title")
    title = str(found[0][0]) if found and found[0] else ""
    return builder.document(title)
