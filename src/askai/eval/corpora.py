"""The eval corpora: the five shipped articles and two corpora of real documentation that Debian
packages install (the Python 3.11 HTML documentation and the R manuals as PDFs).

Each corpus has its own question set, its own folder of documents (copied from the package's
files by a manifest, so nothing outside the folder is ingested) and its own index under
``eval/.work/``. Gold evidence in the real-documentation sets is an exact quote without offsets:
:func:`locate_evidence` finds it in the text askai extracted, so the set survives parser changes.
"""

from __future__ import annotations

import re
import shutil
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askai.errors import ConfigError, IndexCorruptError
from askai.eval.dataset import Evidence, Item
from askai.grounding import fold
from askai.settings import Settings

if TYPE_CHECKING:
    from askai.engine import Engine

WORK = Path("eval/.work")


@dataclass(frozen=True)
class EvalCorpus:
    name: str
    title: str
    questions: Path
    documents: Path
    """The folder ingested (for the Debian corpora: filled from ``source`` by ``manifest``)."""
    source: Path | None = None
    manifest: Path | None = None
    package: str | None = None

    @property
    def index(self) -> Path:
        return WORK / "index" / self.name

    def settings(self, settings: Settings, documents: Path) -> Settings:
        """``settings`` pointed at this corpus: its own index, ``documents`` as what is ingested."""
        return settings.model_copy(update={
            "store": settings.store.model_copy(update={"path": self.index}),
            "ingest": settings.ingest.model_copy(update={"paths": [documents]}),
        })

    def engine(self, settings: Settings, documents: Path, **components: Any) -> Engine:
        """An engine on this corpus's own index (see :meth:`settings`). The index is the eval's,
        derived from the corpus: one written by another askai format (or damaged) is rebuilt,
        saying so, rather than stopping the eval."""
        from askai.engine import Engine

        cs = self.settings(settings, documents)
        try:
            return Engine(cs, **components)
        except IndexCorruptError as exc:
            print(f"askai eval: rebuilding the {self.name} index at {self.index} ({exc})",
                  file=sys.stderr)
            return Engine(cs, reset_index=True, **components)

    def prepare(self) -> Path:
        """Copy the manifest's files from the installed package into :attr:`documents` (only
        what is missing or changed); return the folder to ingest."""
        if self.manifest is None or self.source is None:
            if not self.documents.is_dir():
                raise ConfigError(f"The {self.name} corpus folder {self.documents} is missing")
            return self.documents
        if not self.source.is_dir():
            raise ConfigError(
                f"The {self.name} corpus comes from the Debian package {self.package}, which is "
                f"not installed ({self.source} is missing); run `apt-get install {self.package}` "
                "(make eval does)"
            )
        names = [n.strip() for n in self.manifest.read_text().splitlines() if n.strip()]
        for name in names:
            src, dst = self.source / name, self.documents / name
            if not src.is_file():
                raise ConfigError(f"{self.manifest} names {name}, which {self.package} lacks")
            if dst.is_file() and dst.stat().st_size == src.stat().st_size:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".partial")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
        return self.documents


CORPORA: dict[str, EvalCorpus] = {
    "articles": EvalCorpus(
        "articles", "five news articles (.txt)", Path("eval/questions.jsonl"), Path("ingest"),
    ),
    "python-doc": EvalCorpus(
        "python-doc", "Python 3.11 documentation (HTML, 183 pages)",
        Path("eval/sets/python-doc.jsonl"), WORK / "corpora" / "python-doc",
        source=Path("/usr/share/doc/python3.11/html"),
        manifest=Path("eval/corpora/python-doc.txt"), package="python3.11-doc",
    ),
    "r-manuals": EvalCorpus(
        "r-manuals", "five R manuals (PDF, 360 pages)", Path("eval/sets/r-manuals.jsonl"),
        WORK / "corpora" / "r-manuals", source=Path("/usr/share/R/doc/manual"),
        manifest=Path("eval/corpora/r-manuals.txt"), package="r-doc-pdf",
    ),
}


def corpora(names: list[str]) -> list[EvalCorpus]:
    """The corpora named (``all`` for every one), in the order given."""
    if "all" in names:
        names = list(CORPORA)
    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        raise ConfigError(
            f"Unknown eval corpus {unknown[0]!r}; valid: {', '.join(CORPORA)}, all"
        )
    return [CORPORA[n] for n in dict.fromkeys(names)]


# --- gold quotes ------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """What quote matching ignores: Unicode compatibility forms (ligatures), typographic dashes
    and quotes, and runs of white space."""
    return " ".join(fold(unicodedata.normalize("NFKC", text)).split())


def _normalized_with_map(text: str) -> tuple[str, list[int]]:
    """``normalize(text)`` and, for each of its characters, the offset in ``text`` it came from."""
    out: list[str] = []
    where: list[int] = []
    pending_space = False
    for i, ch in enumerate(text):
        piece = fold(unicodedata.normalize("NFKC", ch))
        for c in piece:
            if c.isspace():
                pending_space = bool(out)
                continue
            if pending_space:
                out.append(" ")
                where.append(i)
                pending_space = False
            out.append(c)
            where.append(i)
    return "".join(out), where


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Offsets ``(start, end)`` in ``text`` of ``quote``, matched after :func:`normalize`."""
    exact = text.find(quote)
    if exact >= 0:
        return exact, exact + len(quote)
    target = normalize(quote)
    if not target:
        return None
    norm, where = _normalized_with_map(text)
    at = norm.find(target)
    if at < 0:
        return None
    return where[at], where[at + len(target) - 1] + 1


def locate_evidence(items: list[Item], document_text: Callable[[str], str]) -> list[Item]:
    """Items whose evidence offsets point into the documents as askai extracted them. Evidence
    given without offsets (``start`` < 0) is looked up by its quote; a quote that cannot be
    found is an error naming the item (the set or the parser has to be fixed)."""
    texts: dict[str, str] = {}
    located: list[Item] = []
    for item in items:
        evidence = []
        for e in item.evidence:
            if e.start >= 0:
                evidence.append(e)
                continue
            if e.doc not in texts:
                texts[e.doc] = document_text(e.doc)
            span = find_quote(texts[e.doc], e.quote)
            if span is None:
                raise ConfigError(
                    f"Item {item.id}: the quote {e.quote[:60]!r}... is not in {e.doc} as askai "
                    "extracts it"
                )
            evidence.append(Evidence(e.doc, texts[e.doc][span[0]:span[1]], *span))
        located.append(replace(item, evidence=evidence))
    return located


_WORDS = re.compile(r"\w+")


def quote_in(text: str, quote: str) -> bool:
    """Does a retrieved text hold the gold ``quote`` (or at least one of its halves, for a quote
    a chunk boundary cuts)? Matched after :func:`normalize`, so any system's text can be scored."""
    hay = normalize(text).lower()
    words = normalize(quote).lower().split(" ")
    if not words or not words[0]:
        return False
    if " ".join(words) in hay:
        return True
    half = len(words) // 2
    return half >= 4 and (" ".join(words[:half]) in hay or " ".join(words[half:]) in hay)
