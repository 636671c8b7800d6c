"""What askai's servers send: citations, passages and documents as plain JSON, the optional
"Sources" footer, and the document keys URLs use (a document's id is its file's absolute path,
which does not fit in a URL segment).

    >>> document_key("/docs/lighthouse.txt")
    'd60bab6de7e9e3e4'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from askai.docnames import short_names
from askai.errors import IndexNotFoundError
from askai.index.store import DocumentInfo, DocumentRecord
from askai.types import Answer, Citation, Passage

FOOTER_HEADING = "Sources:"


def document_key(doc_id: str) -> str:
    """A short, stable, URL-safe key for a document id (16 hex digits of its SHA-256)."""
    return hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:16]


def citation_json(c: Citation) -> dict[str, Any]:
    """One citation: ``quote == text of document[start:end]`` (GET /v1/documents/{key})."""
    return {
        "marker": c.marker,
        "document": c.source,
        "document_key": document_key(c.source),
        "name": c.name,
        "title": c.title,
        "section": c.section,
        "location": c.location,
        "quote": c.quote,
        "start": c.start,
        "end": c.end,
        "support": round(c.score, 4),
        "retrieval_score": round(c.retrieval_score, 4),
    }


def passage_json(p: Passage) -> dict[str, Any]:
    return {
        "document": p.source,
        "document_key": document_key(p.source),
        "name": p.name,
        "title": p.title,
        "section": p.section,
        "location": p.location,
        "text": p.text,
        "start": p.start,
        "end": p.end,
        "score": round(p.score, 4),
    }


def document_json(
    record: DocumentInfo | DocumentRecord, name: str, *, text: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": document_key(record.doc_id),
        "id": record.doc_id,
        "name": name,
        "title": record.title,
        "chunks": record.chunks,
        "ingested_at": record.ingested_at,
        "sha256": record.sha256,
    }
    if text:  # a record read with its text (store.get_document), not a listing's
        if not isinstance(record, DocumentRecord):
            raise TypeError("document_json(text=True) takes a record read with its text")
        out["text"] = record.text
    return out


def documents_json(records: Sequence[DocumentInfo]) -> list[dict[str, Any]]:
    names = short_names(r.doc_id for r in records)
    return [document_json(r, names[r.doc_id]) for r in records]


def find_document(records: Sequence[DocumentInfo], ref: str) -> DocumentInfo:
    """The indexed document ``ref`` names: its key, its id (path) or its short name."""
    names = short_names(r.doc_id for r in records)
    for r in records:
        if ref in (document_key(r.doc_id), r.doc_id, names[r.doc_id]):
            return r
    raise IndexNotFoundError(
        f"No document {ref!r} in the index; GET /v1/documents lists them (use a 'key')"
    )


def footer(answer: Answer) -> str:
    """The answer's sources as text, for clients that show only text ("" when none)."""
    if not answer.citations:
        return ""
    lines = [FOOTER_HEADING]
    for c in answer.citations:
        where = ", ".join(x for x in (c.location, c.section) if x)
        lines.append(f"[{c.marker}] {c.name or c.source}{f' ({where})' if where else ''}: "
                     f"\"{c.quote}\"")
    return "\n".join(lines)


def with_footer(answer: Answer) -> str:
    note = footer(answer)
    return f"{answer.text}\n\n{note}" if note else answer.text


def strip_footer(text: str) -> str:
    """An earlier answer without the footer this server added (for the follow-up history)."""
    return text.split(f"\n\n{FOOTER_HEADING}\n", 1)[0]


def text_pieces(text: str) -> list[str]:
    """``text`` in word-sized pieces that join back to it, for streaming."""
    return re.findall(r"\s*\S+", text) or [text]
