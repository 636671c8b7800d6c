"""The page's sources in a real browser (Playwright on Debian's Chromium): [n] links that scroll
to and highlight their source, titles and locations, the document view (a PDF page rendered with
the quote highlighted, the text in context) and sources shown before the model's first token.

The app runs in this process on a real engine (the MiniLM embedder, Chroma in a temp folder,
real .pdf/.md/.html files); the language model is :class:`HeldLLM`, a backend of the LLM protocol
with fixed replies whose generation the test can hold back, so "before the first token" is a
state the test controls instead of a race against the CPU."""

from __future__ import annotations

import base64
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from askai.engine import Engine
from askai.errors import LLMError
from askai.ui.app import serve

from .browser import CHROMIUM, ask_in_page
from .conftest import ROOT, make_settings
from .pdfs import make_pdf
from .servers import free_port

pytestmark = pytest.mark.slow

# screenshots; docs/page-*.png are copies of these (kept out of docs/ so a test run leaves the
# checkout clean)
OUTPUT = ROOT / "test-output" / "ui"
WAIT_MS = 180_000  # generous: the machine is shared; nothing here measures time

LIGHTHOUSE_Q = "When was the Harrowgate lighthouse built?"
BAKERY_Q = "Where did Orvale Bakery open?"
HELD_Q = "How far away is the Harrowgate lamp visible?"
REPLIES = {  # question: (a phrase of the passage to cite, the reply with {n} for its number)
    LIGHTHOUSE_Q: ("built in 1874", "The Harrowgate lighthouse was built in 1874 by the engineer "
                   "Mara Quell [{n}]."),
    BAKERY_Q: ("opened in the town", "Orvale Bakery opened in the town of Pennick in 2011 [{n}]."),
    HELD_Q: ("31 kilometres",
             "Its lamp is visible from 31 kilometres away on a clear night [{n}]."),
}


class HeldLLM:
    """An LLM backend with fixed replies: it answers a known question by citing the numbered
    source that holds the reply's phrase, a word at a time. While ``gate`` is clear it waits
    before its first token, as a slow model does."""

    name = "held"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()  # set while a generation is held at the gate

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None):  # noqa: ANN001, ANN201
        prompt = messages[-1]["content"]
        question = prompt.rsplit("Question: ", 1)[-1].strip()
        if question not in REPLIES:
            raise LLMError(f"HeldLLM has no reply to {question!r}")
        phrase, reply = REPLIES[question]
        numbers = re.findall(r"^\[(\d+)\] .*" + re.escape(phrase), prompt, re.MULTILINE)
        if not numbers:
            raise LLMError(f"No source in the prompt holds {phrase!r}")
        if not self.gate.is_set():
            self.waiting.set()
            if not self.gate.wait(timeout=600):
                raise LLMError("HeldLLM was held for ten minutes")
            self.waiting.clear()
        for i, word in enumerate(reply.format(n=numbers[0]).split(" ")):
            yield word if i == 0 else " " + word

    def yes_probability(self, messages) -> float:  # noqa: ANN001
        return 0.95


@pytest.fixture(scope="module")
def llm() -> HeldLLM:
    return HeldLLM()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder, llm: HeldLLM) -> Iterator[str]:  # noqa: ANN001
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (.ci/run does this)")
    home = tmp_path_factory.mktemp("page")
    docs = home / "docs"
    docs.mkdir()
    (docs / "harrowgate.pdf").write_bytes(make_pdf([
        [(72, 720, "Lighthouses of the Northern Coast"),
         (72, 690, "A survey of the lights that guard the northern shipping lanes.")],
        [(72, 720, "The Harrowgate lighthouse stands on the cliffs above the old harbour."),
         (72, 700, "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell."),
         (72, 680, "Its lamp is visible from 31 kilometres away on a clear night."),
         (72, 660, "The lighthouse was automated in 1969 and has had no keeper since then.")],
    ]))
    (docs / "bakery.md").write_text(
        "# Orvale Bakery\n\nA family business on the south coast.\n\n## History\n\n"
        "Orvale Bakery opened in the town of Pennick in 2011. It is known for rye bread baked "
        "in a wood-fired oven.\n\n## People\n\nThe bakery employs nine people.\n",
        encoding="utf-8",
    )
    (docs / "frogs.html").write_text(
        "<html><head><title>Glass Frogs</title></head><body><h1>Glass frogs</h1>"
        "<p>Glass frogs have translucent skin on their bellies.</p></body></html>",
        encoding="utf-8",
    )
    settings = make_settings(home, ui={"upload_dir": str(home / "uploads")})
    engine = Engine(settings, embedder=embedder, llm=llm)
    engine.ingest([docs], progress=False)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = serve(engine, host="127.0.0.1", port=port, block=False)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        llm.gate.set()
        app.close()


def _page(browser, server: str, width: int = 1400, height: int = 1000):  # noqa: ANN001, ANN202
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(WAIT_MS)
    page.goto(server)
    page.wait_for_selector("#question textarea")
    return page


@pytest.fixture
def page(browser, server: str):  # noqa: ANN001, ANN201
    page = _page(browser, server)
    yield page
    page.close()


def _ask(page, question: str) -> None:  # noqa: ANN001
    """Send a question and wait until the checked answer and its cited sources are shown."""
    ask_in_page(page, question, WAIT_MS)


def test_sources_are_shown_before_the_first_token(page, llm: HeldLLM) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    llm.gate.clear()
    try:
        page.fill("#question textarea", HELD_Q)
        page.click("#ask")
        assert llm.waiting.wait(timeout=WAIT_MS / 1000), "the model was never asked"
        retrieved = page.locator("#sources .source.retrieved")
        expect(retrieved.first).to_be_visible(timeout=WAIT_MS)
        # the model has not produced a token, and the reader already has the passages
        assert llm.waiting.is_set() and "31" not in page.locator("#chat").inner_text()
        expect(page.locator("#question textarea")).to_be_disabled()
        assert "31 kilometres" in page.inner_text("#sources")
        holder = retrieved.filter(has_text="31 kilometres").first
        assert "Lighthouses of the Northern Coast" in holder.locator(".title").inner_text()
        assert holder.locator(".doc").inner_text() == "harrowgate.pdf"
        assert "Retrieved" in page.inner_text("#sources .retrieved-note")
        page.screenshot(path=str(OUTPUT / "page-retrieved.png"))
    finally:
        llm.gate.set()
    expect(page.locator("#sources .source:not(.retrieved)").first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#chat")).to_contain_text("31 kilometres", timeout=WAIT_MS)
    assert page.locator("#sources .source.retrieved").count() == 0  # the citations replaced them


def test_marker_link_scrolls_to_and_highlights_its_source(browser, server: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    # a narrow window stacks the sources below the chat, out of sight
    page = _page(browser, server, width=560, height=640)
    try:
        _ask(page, LIGHTHOUSE_Q)
        link = page.locator("#chat a[href^='#source-']").first
        expect(link).to_have_text("[1]", timeout=WAIT_MS)
        target = link.get_attribute("href")[1:]
        source = page.locator(f"#sources #{target}")
        assert "1874" in source.locator("mark").inner_text()
        link.scroll_into_view_if_needed()
        expect(source).not_to_be_in_viewport()
        expect(source).not_to_have_class(re.compile(r"\bhighlight\b"))
        link.click()
        expect(source).to_have_class(re.compile(r"\bhighlight\b"))
        expect(source).to_be_in_viewport(timeout=WAIT_MS)
        assert page.url.rstrip("/").endswith(server.rsplit(":", 1)[1])  # no navigation
    finally:
        page.close()


def test_source_shows_title_location_and_name(page) -> None:  # noqa: ANN001
    _ask(page, BAKERY_Q)
    source = page.locator("#sources .source").first
    assert "opened in the town of Pennick" in source.locator("mark").inner_text()
    assert source.locator(".title").inner_text() == "Orvale Bakery"
    assert source.locator(".where").inner_text() == "Orvale Bakery › History"
    assert source.locator(".doc").inner_text() == "bakery.md"
    assert source.locator(".doc").get_attribute("title").endswith("/docs/bakery.md")
    assert "characters" not in source.locator(".source-head").inner_text()
    page.get_by_role("tab", name="Documents").click()
    table = page.inner_text("#documents")
    for title, name in [("Orvale Bakery", "bakery.md"), ("Glass Frogs", "frogs.html"),
                        ("Lighthouses of the Northern Coast", "harrowgate.pdf")]:
        assert title in table and name in table


def test_document_view_shows_the_pdf_page_and_the_quote_in_context(page) -> None:  # noqa: ANN001
    from PIL import Image
    from playwright.sync_api import expect

    _ask(page, LIGHTHOUSE_Q)
    page.locator("#sources .source").first.get_by_role("button", name="Show in document").click()
    view = page.locator("#docview .askai-docview")
    expect(view).to_be_visible(timeout=WAIT_MS)
    quote = view.locator("#docview-quote")
    expect(quote).to_have_text(re.compile(r"built in 1874 by the engineer Mara Quell"))
    context = view.locator(".context").inner_text()
    assert "stands on the cliffs above the old harbour" in context  # the text before the quote
    assert "automated in 1969" in context  # and after it
    assert "Lighthouses of the Northern Coast" in view.locator(".title").inner_text()
    figure = view.locator("figure.pdf-page")
    expect(figure).to_be_visible()
    assert figure.get_attribute("data-page") == "2"
    image = figure.locator("img")
    expect(image).to_be_in_viewport(timeout=WAIT_MS)
    png = base64.b64decode(image.get_attribute("src").split(",", 1)[1])
    pixels = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = pixels.size
    rows = {y for y in range(height) for x in range(0, width, 4)
            if pixels.getpixel((x, y))[2] < 120 and pixels.getpixel((x, y))[0] > 200}
    # the highlight is on the quote's line (y = 700 pt of 792, from the bottom), nowhere else
    assert rows and all(abs(y / 1.5 - (792 - 700)) < 16 for y in rows), sorted(rows)[:5]
    page.screenshot(path=str(OUTPUT / "page-document-view.png"), full_page=True)


def test_answer_screenshot_with_a_highlighted_source(page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _ask(page, BAKERY_Q)
    page.locator("#chat a[href^='#source-']").first.click()
    expect(page.locator("#sources .source.highlight")).to_be_visible()
    page.screenshot(path=str(OUTPUT / "page-answer.png"))
