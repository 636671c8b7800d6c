"""Telling a read-only index from a damaged one.

Chroma opens its SQLite database for writing (even to read it), so a store on a read-only mount,
or whose files are not writable, fails to open with errors that look like damage. Rebuilding
(`askai ingest --reset`) is the wrong advice there: it would delete the index if it could. These
errors are recognised here and reported as read-only, with where.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from askai.errors import IndexReadOnlyError

_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_READ_ONLY_TEXT = ("readonly database", "read-only database", "read-only file system",
                   "permission denied", "operation not permitted")


def read_only_cause(exc: BaseException) -> str | None:
    """The message of the error in ``exc``'s chain that says the store cannot be written
    (SQLite's "attempt to write a readonly database", EROFS, EACCES, EPERM), else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _READ_ONLY_ERRNOS:
            return str(current)
        text = str(current)
        if any(t in text.lower() for t in _READ_ONLY_TEXT):
            return text
        current = current.__cause__ or current.__context__
    return None


def read_only_error(where: str | Path, cause: str) -> IndexReadOnlyError:
    return IndexReadOnlyError(
        f"The index at {where} is read-only ({cause}); make it writable (its folder and its "
        "files), or point ASKAI_STORE__PATH at a writable folder"
    )


def unwritable(folder: Path) -> str | None:
    """Which of an embedded store's folder and database file cannot be written, if any (asked
    of the kernel, so an immutable file counts even for root)."""
    for path in (folder, folder / "chroma.sqlite3"):
        if path.exists() and not os.access(path, os.W_OK):
            return f"{path} cannot be written"
    return None


def read_only(exc: BaseException, folder: Path | None) -> str | None:
    """Why a store failure is a read-only store, if it is: the error says so
    (:func:`read_only_cause`), or the embedded store's ``folder`` or database file cannot be
    written (as when it became read-only after it was opened; SQLite then says only "unable to
    open database file")."""
    return read_only_cause(exc) or (unwritable(folder) if folder is not None else None)
