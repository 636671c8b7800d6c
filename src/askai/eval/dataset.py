"""The eval set: JSON lines, one item each, written by hand against ingest/corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from askai.errors import ConfigError

KINDS = {"answerable", "unanswerable"}


@dataclass(frozen=True)
class Evidence:
    doc: str  # document id, e.g. corpus/000_2f637ece668d7f50.txt
    quote: str
    start: int
    end: int


@dataclass(frozen=True)
class Item:
    id: str
    kind: str
    category: str
    question: str
    reference: str
    facts: list[list[str]] = field(default_factory=list)  # each group: accepted variants
    evidence: list[Evidence] = field(default_factory=list)
    history_question: str = ""  # two-turn items: asked first, its answer becomes history

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def load_items(path: Path) -> list[Item]:
    if not path.is_file():
        raise ConfigError(f"No eval set at {path}; the default is eval/questions.jsonl")
    items: list[Item] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = Item(
                id=raw["id"], kind=raw["kind"], category=raw["category"],
                question=raw["question"], reference=raw.get("reference", ""),
                facts=[list(g) for g in raw.get("facts", [])],
                evidence=[Evidence(e["doc"], e["quote"], int(e["start"]), int(e["end"]))
                          for e in raw.get("evidence", [])],
                history_question=raw.get("history_question", ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: not a valid eval item ({exc})") from exc
        if item.kind not in KINDS:
            raise ConfigError(f"{path}:{n}: kind must be one of {sorted(KINDS)}, got {item.kind!r}")
        if item.id in seen:
            raise ConfigError(f"{path}:{n}: duplicate id {item.id!r}")
        if item.answerable and not (item.facts and item.evidence):
            raise ConfigError(f"{path}:{n}: an answerable item needs facts and evidence")
        seen.add(item.id)
        items.append(item)
    return items
