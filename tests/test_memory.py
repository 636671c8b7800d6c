"""Memory a long ingest frees goes back to the operating system, and chunking does not import
what it never uses. Each is measured in a child process of its own (a clean heap, a clean set of
imported modules)."""

from __future__ import annotations

import pytest

from askai.memory import can_release

from .conftest import CORPUS, child_json

FREED = """
import json, sys
import numpy as np
from askai.memory import release_free_memory

def resident_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

blocks = [np.ones(8192) for _ in range(3000)]  # 3,000 x 64 KiB from the C heap (~190 MB)
last = blocks[-1]  # the newest block stays: the heap cannot just shrink from its top
del blocks
held = resident_mb()
if sys.argv[1] == "release":
    release_free_memory()
print(json.dumps({"held": held, "after": resident_mb()}))
"""


@pytest.mark.skipif(not can_release(), reason="this C library has no malloc_trim")
def test_freed_heap_memory_is_returned_to_the_system() -> None:
    kept = child_json(FREED, "keep")
    released = child_json(FREED, "release")
    # without a release the freed blocks stay resident: what the release gives back is real
    assert kept["held"] - kept["after"] < 20, kept
    assert released["held"] - released["after"] > 120, released


CHUNKS = """
import importlib, json, sys
if sys.argv[1] == "full":
    import nltk  # every optional nltk import, as any other user of nltk has it
from askai.ingest.chunking import Chunker
text = open(sys.argv[2], encoding="utf-8").read()
spans = [(s.start, s.end) for s in Chunker(160, 32, str.split).split(text)]
loaded = sorted(m for m in ("sklearn", "scipy", "pandas") if m in sys.modules)
importlib.import_module("scipy.stats")  # still importable afterwards
print(json.dumps({"spans": spans, "loaded": loaded}))
"""


def test_chunking_skips_nltks_optional_imports_and_chunks_the_same() -> None:
    # the longest shipped article: many sentences, abbreviations, numbers
    path = max(CORPUS.iterdir(), key=lambda p: p.stat().st_size)
    light = child_json(CHUNKS, "light", str(path))
    full = child_json(CHUNKS, "full", str(path))
    assert light["loaded"] == [], light["loaded"]
    assert full["loaded"] == ["pandas", "scipy", "sklearn"]
    assert len(light["spans"]) > 10
    assert light["spans"] == full["spans"]
