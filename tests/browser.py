"""Debian's Chromium driven by Playwright, shared by the browser tests (never `playwright install`;
the ``browser`` fixture is in conftest.py)."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

# the turn whose answer the sources panel shows (0: none yet); see askai.ui.render.sources_html
_TURN_JS = "() => +(document.querySelector('#sources [data-turn]')?.dataset.turn || 0)"


def ask_in_page(page, question: str, timeout_ms: float) -> None:  # noqa: ANN001
    """Type a question, send it, and wait until its answer is final: the sources panel shows a
    later turn than before, the timing line is filled and the input unlocked. (Waiting on the
    timing line or the input's lock alone raced: the chat could render the new turn while the
    panel, the timing and the input still showed the previous one.)"""
    before = page.evaluate(_TURN_JS)
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(f"n => ({_TURN_JS})() > n", arg=before, timeout=timeout_ms)
    page.wait_for_function(
        "() => document.querySelector('#timing').innerText.includes('total')", timeout=timeout_ms
    )
    page.wait_for_selector("#question textarea:not([disabled])", timeout=timeout_ms)
