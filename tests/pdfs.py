"""Small real PDFs for the tests, built by hand (byte offsets computed) or with pypdf."""

from __future__ import annotations

import io


def _escape(text: str) -> str:
    return text.replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[tuple[float, float, str]]], font: str = "Helvetica") -> bytes:
    """A PDF whose pages show lines of text at (x, y) points."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for lines in pages:
        body = " ".join(
            f"BT /F1 11 Tf {x} {y} Td ({_escape(t)}) Tj ET" for x, y, t in lines
        ).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream")
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 FONT 0 R >> >> >>" % content
        )
        kids.append(len(objects))
    objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{font} >>".encode())
    font_id = len(objects)
    objects = [o.replace(b"FONT", str(font_id).encode()) for o in objects]
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        " ".join(f"{k} 0 R" for k in kids).encode(), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def text_pdf(text: str) -> bytes:
    """A one-page PDF showing one line of ``text``."""
    return make_pdf([[(72, 720, text)]])


def encrypted(data: bytes, *, user_password: str = "", algorithm: str = "AES-256") -> bytes:
    """``data`` encrypted by pypdf. With the empty user password any viewer opens it without
    asking (only the owner password guards editing); with another one it needs that password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
