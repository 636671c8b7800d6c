"""Slow tier: the real app (real model, real Chroma in a temp index) in a real browser."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .browser import ask_in_page
from .conftest import ROOT
from .servers import free_port, serve

pytestmark = pytest.mark.slow

OUTPUT = ROOT / "test-output" / "ui"
ANSWER_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def server(corpus_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("app")
    env = {
        **os.environ,
        "ASKAI_STORE__PATH": str(home / "chroma"),
        "ASKAI_UI__UPLOAD_DIR": str(home / "uploads"),
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    subprocess.run(
        [sys.executable, "-m", "askai", "ingest", str(corpus_copy), "--quiet"],
        env=env, check=True, capture_output=True,
    )
    port = free_port()
    cmd = [sys.executable, "-m", "askai", "ui", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, url, home / "server.log", 180, env=env):
        yield url


@pytest.fixture
def page(browser, server: str):  # noqa: ANN001, ANN201
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.wait_for_selector("#question textarea")
    yield page
    page.close()


def _ask(page, question: str) -> None:  # noqa: ANN001
    ask_in_page(page, question, ANSWER_TIMEOUT_MS)


def _last_answer(page) -> str:  # noqa: ANN001
    return page.locator("#chat .message").last.inner_text()


def test_answer_streams_with_checkable_sources(page) -> None:  # noqa: ANN001
    page.fill("#question textarea", "Which firms are pioneering chiplet technology?")
    page.click("#ask")
    # while the model works the input is locked
    page.wait_for_selector("#question textarea[disabled]", timeout=30_000)
    page.wait_for_selector("#sources .source", timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_selector("#question textarea:not([disabled])", timeout=ANSWER_TIMEOUT_MS)
    answer = _last_answer(page)
    assert "Biren" in answer and "[1]" in answer
    sources = page.inner_text("#sources")
    assert "000_2f637ece668d7f50.txt" in sources  # the document's name (its path is the id)
    assert page.inner_text("#sources mark").startswith("Chinese firms like Biren Technology")
    assert "retrieval score" in sources
    assert "first token" in page.inner_text("#timing")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "answer.png"), full_page=True)


def test_follow_up_is_rewritten_before_retrieval(page) -> None:  # noqa: ANN001
    _ask(page, "Which companies build chiplets?")
    _ask(page, "What problem do they work around?")
    searched = page.inner_text("#sources .searched")
    assert "they" not in searched.lower().split(), searched
    assert any(w in searched for w in ("Biren", "Iluvatar", "chiplet", "Chiplet")), searched
    page.screenshot(path=str(OUTPUT / "follow-up.png"), full_page=True)


def test_bad_input_gets_a_clear_message(page, tmp_path: Path) -> None:  # noqa: ANN001
    page.click("#ask")  # empty
    page.wait_for_function(
        "() => document.querySelector('#chat').innerText.includes('empty')", timeout=30_000
    )
    page.fill("#question textarea", "word " * 4000)  # 20,000 characters
    page.click("#ask")
    page.wait_for_function(
        "() => document.querySelector('#chat').innerText.includes('characters long')",
        timeout=30_000,
    )
    page.get_by_role("tab", name="Documents").click()
    bad = tmp_path / "sheet.xls"  # old Excel: a type askai does not read
    bad.write_bytes(b"PK\x03\x04 not really")
    corrupt = tmp_path / "broken.pdf"
    corrupt.write_bytes(b"%PDF-1.4 garbage")
    page.set_input_files("#upload input[type=file]", [str(bad), str(corrupt)])
    page.click("#add")
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('corrupt PDF')",
        timeout=60_000,
    )
    status = page.inner_text("#upload-status")
    assert "sheet.xls: " in status and "unsupported file type" in status
    assert "broken.pdf: " in status and "corrupt PDF" in status
    assert "000_2f637ece668d7f50.txt" in page.inner_text("#documents")  # shown by name
    page.get_by_role("tab", name="Chat").click()
    _ask(page, "How many registered generative AI models does Beijing have?")
    assert "219" in _last_answer(page)


def test_upload_ask_and_delete_a_document(page, tmp_path: Path) -> None:  # noqa: ANN001
    doc = tmp_path / "zorblax.txt"
    doc.write_text(
        "The Zorblax festival is held every June in the town of Quillford.\n"
        "During the festival, residents build kites shaped like herons.\n"
    )
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#upload input[type=file]", str(doc))
    page.click("#add")
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('zorblax.txt: ')",
        timeout=120_000,
    )
    assert "indexed" in page.inner_text("#upload-status")
    page.wait_for_function(
        "() => document.querySelector('#documents').innerText.includes('zorblax.txt')"
    )
    # the same content again: no duplicate
    page.set_input_files("#upload input[type=file]", str(doc))
    page.click("#add")
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('already')",
        timeout=120_000,
    )
    assert page.inner_text("#documents").count("zorblax.txt") == 1

    page.get_by_role("tab", name="Chat").click()
    _ask(page, "When is the Zorblax festival held?")
    assert "June" in _last_answer(page)
    assert "zorblax.txt" in page.inner_text("#sources")

    page.get_by_role("tab", name="Documents").click()
    page.click("#pick input")
    page.fill("#pick input", "zorblax.txt")
    page.locator("ul[role=listbox] li", has_text="zorblax.txt").first.click()
    page.click("#delete")
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('deleted')",
        timeout=60_000,
    )
    assert "zorblax.txt" not in page.inner_text("#documents")
    page.get_by_role("tab", name="Chat").click()
    _ask(page, "When is the Zorblax festival held?")
    assert "zorblax.txt" not in page.inner_text("#sources")


def test_gradio_client_api(server: str) -> None:
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = client.predict("What is Sinong?", api_name="/ask")
    assert not result["refused"] and "agricultur" in result["text"].lower()
    assert result["citations"] and Path(result["citations"][0]["source"]).name.startswith("001")
