"""Uploaded files (the page, the HTTP API): askai's own copy, and deleting only what askai made.

An upload is copied to ``<ui.upload_dir>/<content hash>/<safe name>``. Each folder askai creates
there holds a marker, ``.askai-upload`` (JSON: the names of the files askai stored in it), so a
deletion removes exactly the files askai stored, one at a time, and a folder only when askai
created it and nothing else is left in it; a file or folder askai did not make is never touched,
even when the upload folder setting points into the user's own files. Gradio keeps its own copy
of every upload in its upload cache (``GRADIO_TEMP_DIR``, default ``<tmp>/gradio``,
``<hash>/<name>``) and serves it from ``/gradio_api/file=``; once askai holds its copy that one
is removed, so a deleted document cannot be fetched from the page afterwards.
"""

from __future__ import annotations

import errno
import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from filelock import FileLock

from askai.errors import AskaiError, IngestError
from askai.ingest.loaders import SUPPORTED_SUFFIXES

if TYPE_CHECKING:
    from askai.engine import Engine
    from askai.index.store import DocumentRecord
    from askai.settings import Settings

MARKER = ".askai-upload"
LOCK = ".askai-uploads.lock"


def safe_name(name: str) -> str:
    """A file name safe to store: no folders, no leading dots, only plain characters."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")[:100]
    return cleaned or "upload"


@dataclass(frozen=True)
class StoredUpload:
    path: Path
    created: bool  # False: the same bytes under the same name were stored by an earlier upload


def store_upload(source: Path, upload_dir: Path, max_bytes: int) -> StoredUpload:
    """Copy an uploaded file into ``upload_dir/<content hash>/<safe name>``.

    The upload's own name never chooses the folder: only its sanitised last component is kept.
    A file already there that askai did not store is never overwritten.
    """
    name = safe_name(source.name)
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise IngestError(
            name, f"unsupported file type; askai reads {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    size = source.stat().st_size
    if size > max_bytes:
        raise IngestError(name, f"is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    root = upload_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / digest
    target = folder / name
    with FileLock(root / LOCK):
        stored = _read_marker(folder)
        if stored is None:
            if folder.exists() or folder.is_symlink():
                raise IngestError(name, f"{folder} exists and was not made by askai; set ui."
                                  "upload_dir (ASKAI_UI__UPLOAD_DIR) to a folder of its own")
            folder.mkdir()
            stored = []
        if name in stored and target.is_file():
            return StoredUpload(target, created=False)
        if target.exists() or target.is_symlink():
            raise IngestError(name, f"{target} exists and was not stored by askai; not replaced")
        _write_marker(folder, [*stored, name])  # first: a crash leaves a file askai can delete
        shutil.copyfile(source, target)
    return StoredUpload(target, created=True)


@dataclass(frozen=True)
class UploadOutcome:
    """What adding one upload to the index did."""

    name: str  # the stored file's (safe) name
    status: Literal["indexed", "unchanged", "failed"]
    chunks: int = 0
    reason: str = ""  # why it failed
    doc_id: str = ""  # the document's id once indexed (or already there)


def upload_limit(settings: Settings) -> int:
    """The largest upload in bytes: the smaller of ui.max_upload_mb and ingest.max_file_mb."""
    return int(min(settings.ui.max_upload_mb, settings.ingest.max_file_mb) * 1_000_000)


def ingest_upload(engine: Engine, stored: StoredUpload, upload_dir: Path) -> UploadOutcome:
    """Index a stored upload. A file this upload created is removed again when it ends up not
    indexed (unreadable, or the index cannot be written); an error of the index itself (read-only,
    busy) becomes a failed outcome carrying its message."""
    name = stored.path.name
    try:
        report = engine.ingest([stored.path], progress=False)
    except AskaiError as exc:  # the index, not this file (e.g. read-only)
        if stored.created:
            remove_upload(stored.path, upload_dir)
        return UploadOutcome(name, "failed", reason=str(exc))
    indexed = any(d.path == str(stored.path) for d in engine.documents())
    if stored.created and not indexed:  # remove only the file this upload made
        remove_upload(stored.path, upload_dir)
    if report.failed:
        return UploadOutcome(name, "failed", reason=report.failed[0].reason)
    doc_id = next((d.doc_id for d in engine.documents() if d.path == str(stored.path)), "")
    if report.skipped:
        return UploadOutcome(name, "unchanged", doc_id=doc_id)
    return UploadOutcome(name, "indexed", chunks=report.chunks, doc_id=doc_id)


def delete_document(engine: Engine, doc_id: str, upload_dir: Path) -> DocumentRecord:
    """Remove a document from the index, and its stored file if askai stored it (an upload);
    a file askai did not store is never touched."""
    record = engine.delete_document(doc_id)
    if record.path:
        remove_upload(record.path, upload_dir)
    return record


def remove_upload(path: str | Path, upload_dir: Path) -> bool:
    """Delete ``path`` if askai stored it as an upload (then its folder, once askai's and empty).
    Any other file is left alone and False returned."""
    root = upload_dir.resolve()
    path = Path(path)
    folder = path.parent
    if folder.parent != root or not (root / LOCK).exists():
        return False
    with FileLock(root / LOCK):
        stored = _read_marker(folder)
        if stored is None or path.name not in stored:
            return False
        path.unlink(missing_ok=True)
        rest = [n for n in stored if n != path.name]
        if rest:
            _write_marker(folder, rest)
        else:
            (folder / MARKER).unlink()
            if not any(folder.iterdir()):  # something askai did not put there stays, and so
                folder.rmdir()             # does the folder holding it
    return True


def discard_gradio_copy(source: Path) -> bool:
    """Remove Gradio's cached copy of an upload (``<upload cache>/<hash>/<name>``) and its
    folder once empty; a path outside Gradio's upload cache is left alone (False)."""
    from gradio.utils import get_upload_folder

    cache = Path(get_upload_folder()).resolve()
    path = source.resolve()
    if path.parent.parent != cache or not path.is_file():
        return False
    path.unlink()
    try:
        path.parent.rmdir()
    except OSError as exc:  # another upload of the same bytes is there: it stays
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    return True


def _read_marker(folder: Path) -> list[str] | None:
    marker = folder / MARKER
    if not marker.is_file():
        return None
    names = json.loads(marker.read_text(encoding="utf-8")).get("files", [])
    return [str(n) for n in names]


def _write_marker(folder: Path, names: list[str]) -> None:
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"files": names}), encoding="utf-8")
    tmp.replace(folder / MARKER)
