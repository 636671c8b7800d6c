from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from askai.errors import IngestError
from askai.followup import build_rewrite_messages, clean_rewrite, needs_rewrite
from askai.types import Answer, Citation
from askai.ui.app import history_turns, safe_name, store_upload
from askai.ui.render import sources_html


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        (".hidden.txt", "hidden.txt"),
        ("my notes (v2).txt", "my_notes_v2_.txt"),
        ("", "upload"),
    ],
)
def test_safe_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_store_upload_keeps_files_inside_the_upload_dir(tmp_path: Path) -> None:
    src = tmp_path / "in" / "notes.txt"
    src.parent.mkdir()
    src.write_text("hello")
    uploads = tmp_path / "uploads"
    stored = store_upload(src, uploads, max_bytes=1000)
    assert stored.path.is_relative_to(uploads.resolve()) and stored.path.name == "notes.txt"
    assert stored.path.read_text() == "hello" and stored.created
    assert store_upload(src, uploads, max_bytes=1000) == replace(stored, created=False)
    with pytest.raises(IngestError, match="over the"):
        store_upload(src, uploads, max_bytes=2)
    bad = tmp_path / "in" / "tool.exe"
    bad.write_bytes(b"MZ")
    with pytest.raises(IngestError, match="unsupported file type"):
        store_upload(bad, uploads, max_bytes=1000)


def test_history_turns_pairs_questions_with_answers_and_skips_errors() -> None:
    messages = [
        {"role": "assistant", "content": "⚠️ The question is empty"},
        {"role": "user", "content": "Which firms build chiplets?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Biren [1]."}]},
        {"role": "user", "content": "x" * 50},
        {"role": "assistant", "content": "⚠️ too long"},
        {"role": "user", "content": "And their problem?"},
        {"role": "assistant", "content": "*I couldn't find that in the documents.*"},
    ]
    assert history_turns(messages) == [
        ("Which firms build chiplets?", "Biren [1]."),
        ("And their problem?", "I couldn't find that in the documents."),
    ]


def test_sources_html_highlights_the_quote_inside_its_passage() -> None:
    passage = "Intro sentence. The quoted part <b>here</b>. After."
    c = Citation("a.txt", "The quoted part <b>here</b>.", 116, 144, 0.9, marker=1,
                 passage=passage, passage_start=100, retrieval_score=0.5)
    html = sources_html(Answer("q?", "Answer [1].", False, citations=[c], searched="q?"))
    assert "Intro sentence. <mark>The quoted part &lt;b&gt;here&lt;/b&gt;.</mark> After." in html
    assert "a.txt" in html and "0.50" in html
    refused = sources_html(Answer("q?", "I couldn't find that.", True, searched="q?"))
    assert "Refused" in refused and "<mark>" not in refused


def test_follow_up_detection_and_cleaning() -> None:
    history = [("Which companies build chiplets?", "Biren Technology and Iluvatar CoreX [1].")]
    assert needs_rewrite("What problem do they work around?", history)
    assert not needs_rewrite("What problem do they work around?", [])
    assert not needs_rewrite("How big is the healthcare AI market in China?", history)
    messages = build_rewrite_messages("What problem do they work around?", history)
    assert "Biren Technology and Iluvatar CoreX." in messages[-1]["content"]  # markers removed
    assert clean_rewrite('Standalone question: "What do Biren and Iluvatar work around?"\nx') == (
        "What do Biren and Iluvatar work around?"
    )
