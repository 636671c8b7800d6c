from __future__ import annotations

from pathlib import Path

import pytest

from askai.errors import IngestError
from askai.ingest.loaders import load_file

MB = 1_000_000


def _pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing ``text`` (built by hand, byte offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
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
        len(objects) + 1, xref,
    )
    return bytes(out)


def test_text_and_markdown_are_kept_verbatim(tmp_path: Path) -> None:
    raw = "# Title here\n\nSome *markdown* text.\r\nSecond line.\n"
    path = tmp_path / "a.md"
    path.write_bytes(raw.encode("utf-8"))
    doc = load_file(path, max_bytes=MB)
    assert doc.text == raw and doc.title == "Title here"


def test_html_visible_text_and_title(tmp_path: Path) -> None:
    path = tmp_path / "p.html"
    path.write_text(
        "<html><head><title>T</title><script>var x=1;</script></head>"
        "<body><p>Hello &amp; welcome.</p><p>Bye.</p></body></html>"
    )
    doc = load_file(path, max_bytes=MB)
    assert doc.title == "T"
    assert doc.text == "Hello & welcome.\n\nBye."


def test_pdf_text(tmp_path: Path) -> None:
    path = tmp_path / "d.pdf"
    path.write_bytes(_pdf("Quokkas live on Rottnest Island."))
    doc = load_file(path, max_bytes=MB)
    assert "Quokkas live on Rottnest Island." in doc.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "no text"),
        ("blank.md", b"  \n\n ", "no text"),
        ("binary.txt", b"\x7fELF\x00\x00\x01\x02" * 10, "binary"),
        ("latin.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "not valid UTF-8"),
        ("broken.pdf", b"%PDF-1.4\n garbage that is not a pdf", "corrupt PDF"),
        ("fake.pdf", b"hello, I am text", "not a PDF"),
        ("data.xlsx", b"PK\x03\x04", "unsupported file type"),
    ],
)
def test_bad_files_get_a_clear_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=reason) as info:
        load_file(path, max_bytes=MB)
    assert info.value.path == str(path)


def test_gbk_chinese_text_is_decoded(tmp_path: Path) -> None:
    text = "人工智能在中国发展迅速。芯片出口管制推动了国产芯片的研发。"
    path = tmp_path / "zh.txt"
    path.write_bytes(text.encode("gbk"))
    assert load_file(path, max_bytes=MB).text == text


def test_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    with pytest.raises(IngestError, match="over the 0.0 MB limit"):
        load_file(path, max_bytes=100)
