"""Checks on the zip container of Office Open XML files (.docx, .pptx, .xlsx) and EPUBs before any
library opens them.

- A password-protected Office file is not a zip at all: it is an OLE compound file (the old
  binary format's container) holding the encrypted package. It is refused as password-protected;
  any other OLE file under an OOXML name (an old .doc/.xls/.ppt renamed) as an old format.
- A zip bomb is refused by the sizes its directory declares, before anything is extracted:
  Python's zipfile never inflates a member past its declared size, so the declared sizes bound
  what the readers will decompress.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from askai.errors import IngestError

MAX_UNPACKED_BYTES = 200_000_000  # all members together, as declared
MAX_RATIO = 100  # a member's declared size over its compressed size (XML is rarely past 20)
RATIO_FLOOR = 1_000_000  # members smaller than this are not checked for their ratio

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptionInfo".encode("utf-16-le")  # a directory entry's name


def open_zip(path: Path, data: bytes, kind: str) -> zipfile.ZipFile:
    """``data`` as a checked zip archive; ``kind`` names the format in errors ("Word file")."""
    if data.startswith(_OLE):
        if _ENCRYPTED_STREAM in data:
            raise IngestError(path, f"is a password-protected {kind} (it opens only with a "
                              "password); save a copy without the password and ingest that")
        raise IngestError(path, f"is an old binary Office file, not a {kind}; open it in an "
                          "Office program and save it in the current format (.docx, .pptx, "
                          ".xlsx)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise IngestError(path, f"is not a readable {kind} (a damaged zip archive: {exc})") \
            from exc
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED_BYTES:
        raise IngestError(path, f"is refused: its parts unpack to {total / 1e6:,.0f} MB, over "
                          f"the {MAX_UNPACKED_BYTES / 1e6:,.0f} MB limit (a zip bomb, or a "
                          "document too large to read)")
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise IngestError(path, f"is refused as a zip bomb: its part {m.filename} unpacks "
                              f"{m.file_size / max(m.compress_size, 1):,.0f} times larger "
                              f"({m.file_size / 1e6:,.0f} MB; the limit is {MAX_RATIO} times)")
    return archive
