"""Fill in or check the character offsets of gold evidence quotes in an eval set.

    python eval/tools/locate_quotes.py eval/questions.jsonl [--write]

A quote may be typed with plain ASCII hyphens and apostrophes; it is matched against the document
with typographic variants (’ ‘ “ ” ‑ – —) folded, and replaced by the document's exact text.
Each quote must occur exactly once. Without --write it only reports problems (exit 1 if any).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "‑": "-", "–": "-", "—": "-"})


def locate(text: str, quote: str) -> tuple[int, int]:
    folded, needle = text.translate(FOLD), quote.translate(FOLD)
    start = folded.find(needle)
    if start < 0:
        raise ValueError(f"quote not found: {quote[:80]!r}")
    if folded.find(needle, start + 1) >= 0:
        raise ValueError(f"quote occurs more than once: {quote[:80]!r}")
    return start, start + len(needle)


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    write = "--write" in argv
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    problems = 0
    for item in items:
        for ev in item.get("evidence", []):
            text = (ROOT / "ingest" / ev["doc"]).read_text(encoding="utf-8")
            try:
                start, end = locate(text, ev["quote"])
            except ValueError as exc:
                print(f"{item['id']}: {exc}")
                problems += 1
                continue
            if write:
                ev.update(quote=text[start:end], start=start, end=end)
            elif (ev.get("start"), ev.get("end")) != (start, end):
                print(f"{item['id']}: offsets {ev.get('start')}-{ev.get('end')}, expected "
                      f"{start}-{end}")
                problems += 1
    if write and not problems:
        path.write_text(
            "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
        )
    print(f"{len(items)} items, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
