"""A PDF's text is the same in every process: pdfminer breaks ties between equally distant text
boxes by ``id()`` (a memory address), which made R-admin.pdf's text (two table rows) differ from
one ingest to the next; askai gives pdfminer's grouping a deterministic tie-break."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pdfminer.layout import LAParams, LTLayoutContainer, LTTextBoxHorizontal, LTTextGroup

R_ADMIN = Path("/usr/share/R/doc/manual/R-admin.pdf")


def _grouped(cells: list[tuple[int, int]], allocate: list[tuple[int, int]]) -> list[tuple]:
    """The reading order pdfminer's grouping gives a grid of equally spaced boxes (listed row by
    row), the boxes created in the order ``allocate`` (so at other memory addresses)."""
    made = {}
    for r, c in allocate:
        box = LTTextBoxHorizontal()
        box.set_bbox((50 + 150 * c, 700 - 30 * r, 110 + 150 * c, 712 - 30 * r))
        box.cell = (r, c)
        made[(r, c)] = box
    groups = LTLayoutContainer((0, 0, 612, 792)).group_textboxes(
        LAParams(), [made[rc] for rc in cells])
    order: list[tuple] = []

    def walk(node: object) -> None:
        if isinstance(node, LTTextGroup):
            for child in node:
                walk(child)
        else:
            order.append(node.cell)  # type: ignore[attr-defined]

    for g in groups:
        walk(g)
    return order


def test_equal_distances_group_the_same_whatever_the_memory_addresses() -> None:
    importlib.import_module("askai.ingest.pdf")._deterministic_layout()
    cells = [(r, c) for r in range(6) for c in range(3)]
    # pdfminer's own tie-break (id()) gave two different orders for these two
    assert _grouped(cells, cells) == _grouped(cells, cells[::-1])


_HASH = """
import hashlib, sys
from pathlib import Path
from askai.ingest.loaders import load_file
text = load_file(Path(sys.argv[1]), max_bytes=50_000_000).text
print(hashlib.sha256(text.encode()).hexdigest())
"""


@pytest.mark.skipif(not R_ADMIN.is_file(), reason="r-doc-pdf is not installed")
def test_a_real_pdf_reads_the_same_in_four_processes() -> None:
    """R-admin.pdf read with PYTHONHASHSEED 1 to 4 (which moved its boxes' addresses apart
    enough to swap two table rows before the fix)."""
    digests = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _HASH, str(R_ADMIN)], env=env,
                              capture_output=True, text=True, check=True)
        digests.add(done.stdout.strip())
    assert len(digests) == 1 and len(next(iter(digests))) == len(hashlib.sha256().hexdigest())
