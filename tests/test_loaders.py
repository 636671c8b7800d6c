from __future__ import annotations

from pathlib import Path

import pytest

from askai.errors import IngestError
from askai.ingest.loaders import load_file

from .conftest import run_child
from .pdfs import encrypted, text_pdf

MB = 1_000_000


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
    path.write_bytes(text_pdf("Quokkas live on Rottnest Island."))
    doc = load_file(path, max_bytes=MB)
    assert "Quokkas live on Rottnest Island." in doc.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "no text"),
        ("blank.md", b"  \n\n ", "no text"),
        ("binary.txt", b"\x7fELF\x00\x00\x01\x02" * 10, "binary"),
        ("random.txt", bytes(range(1, 256)) * 8, "binary"),
        ("broken.pdf", b"%PDF-1.4\n garbage that is not a pdf", "corrupt PDF"),
        ("fake.pdf", b"hello, I am text", "not a PDF"),
        ("data.xlsx", b"PK\x03\x04", "damaged zip archive"),
        ("data.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "unsupported file type"),
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


FRENCH = ("Le café crème est très bon, à mon avis, même l'été. Où est la bibliothèque ? Elle se "
          "trouve près de l'église, à côté du château.\n")


@pytest.mark.parametrize(
    ("name", "data", "text"),
    [
        ("utf16le.txt", b"\xff\xfe" + FRENCH.encode("utf-16-le"), FRENCH),
        ("utf16be.md", b"\xfe\xff" + FRENCH.encode("utf-16-be"), FRENCH),
        ("utf32.txt", FRENCH.encode("utf-32"), FRENCH),  # with its BOM
        ("latin1.txt", FRENCH.encode("latin-1"), FRENCH),
        ("cp1252.txt", "They said \u201cquokka\u201d \u2014 twice.\n".encode("cp1252"),
         "They said \u201cquokka\u201d \u2014 twice.\n"),
        ("utf8bom.txt", b"\xef\xbb\xbf" + FRENCH.encode("utf-8"), "\ufeff" + FRENCH),
    ],
)
def test_text_in_other_encodings_is_decoded(
    tmp_path: Path, name: str, data: bytes, text: str
) -> None:
    """UTF-16/32 with a byte-order mark and single-byte Western encodings are read, not called
    binary; UTF-8 is kept verbatim (its BOM too, so offsets stay those of the file's text)."""
    path = tmp_path / name
    path.write_bytes(data)
    assert load_file(path, max_bytes=MB).text == text


def test_html_in_utf16_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "p.html"
    path.write_bytes("<html><body><p>Où est la bibliothèque ?</p></body></html>".encode("utf-16"))
    assert load_file(path, max_bytes=MB).text == "Où est la bibliothèque ?"


@pytest.mark.parametrize("algorithm", ["AES-256", "AES-128", "RC4-128"])
def test_pdf_encrypted_without_a_user_password_is_read(tmp_path: Path, algorithm: str) -> None:
    """Any viewer opens such a PDF without asking; askai reads it too."""
    path = tmp_path / "locked.pdf"
    path.write_bytes(encrypted(text_pdf("Quokkas live on Rottnest Island."), algorithm=algorithm))
    assert "Quokkas live on Rottnest Island." in load_file(path, max_bytes=MB).text


def test_pdf_that_needs_a_password_says_so(tmp_path: Path) -> None:
    path = tmp_path / "secret.pdf"
    path.write_bytes(encrypted(text_pdf("Quokkas."), user_password="s3cret"))
    with pytest.raises(IngestError, match="password-protected") as info:
        load_file(path, max_bytes=MB)
    assert "corrupt" not in info.value.reason


def test_aes_pdf_without_the_cryptography_package_is_a_per_file_error(tmp_path: Path) -> None:
    """Where `cryptography` is missing, an AES PDF is one file's error naming the package to
    install, not a traceback that ends the whole ingest (run in a child process whose import of
    `cryptography` fails)."""
    path = tmp_path / "aes.pdf"
    path.write_bytes(encrypted(text_pdf("Quokkas live on Rottnest Island.")))
    code = (
        "import sys; sys.modules['cryptography'] = None\n"
        "from pathlib import Path\n"
        "from askai.errors import IngestError\n"
        "from askai.ingest.loaders import load_file\n"
        "try:\n"
        f"    load_file(Path({str(path)!r}), max_bytes=10**6)\n"
        "except IngestError as exc:\n"
        "    print('REASON', exc.reason)\n"
    )
    out = run_child(code, timeout=120)
    assert "REASON" in out and "cryptography" in out


def test_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    with pytest.raises(IngestError, match="over the 0.0 MB limit"):
        load_file(path, max_bytes=100)
