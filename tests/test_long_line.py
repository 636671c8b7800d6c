"""A document of many megabytes (a file with no line breaks) is written to the store in bounded
pieces: the memory its text costs while it is written stays a small multiple of its size.

Measured in a child process of its own (peak RSS from /proc, VmHWM), as the ingest pipeline
writes a record: put "pending" with its text, then turned "ready". When the text was one Chroma
record (written twice), an 8 MB text raised the peak by ~195 MB; in pieces by ~41 MB.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import child_json

CHILD = """
import json, sys
from askai.index.store import DocumentRecord, build_store
from askai.settings import StoreSettings

def status():
    found = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found

megabytes = float(sys.argv[2])
store = build_store(StoreSettings(path=sys.argv[1]), "test-embedder", 3)
sentence = "Quokka island grass night leaves tourist photo smile harbour ferry 123. "
text = (sentence * (int(megabytes * 1e6) // len(sentence) + 1))[: int(megabytes * 1e6)]
with store.writing():  # the store's first write (its one-time costs) before the baseline
    store.put_documents([DocumentRecord("small", "S", "a small text", "h0", 1, "2026-01-01")])
before = status()["VmRSS"]
record = DocumentRecord("long", "L", text, "h1", 1, "2026-01-01", status="pending", path="p")
with store.writing():
    store.put_documents([record])
    store.set_status(["long"], "ready")
back = store.get_document("long")
print(json.dumps({"grew_mb": status()["VmHWM"] - before, "same": back.text == text,
                  "status": back.status}))
"""


def test_a_long_text_costs_memory_bounded_by_a_small_multiple_of_its_size(tmp_path: Path) -> None:
    megabytes = 8
    result = child_json(CHILD, str(tmp_path / "index"), str(megabytes), timeout=600)
    assert result["same"] and result["status"] == "ready"
    # pieces: ~41 MB for 8 MB (Chroma's full-text index and caches); one record: ~195 MB
    assert result["grew_mb"] < 12 * megabytes, result
