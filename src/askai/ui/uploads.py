"""Files uploaded in the page: askai's own copy, and deleting only what askai made.

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

from filelock import FileLock

from askai.errors import IngestError
from askai.ingest.loaders import SUPPORTED_SUFFIXES

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
