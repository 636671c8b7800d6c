"""The text askai indexes, built block by block with the heading path of every part.

A format's loader reads its file by structure (headings, paragraphs, list items, table rows,
code blocks, pages) and hands the blocks to a :class:`TextBuilder`. The builder joins them into one
plain text (what citations quote and offsets point into) and records where each section starts
and which headings it sits under (``Configuration › Logging › Rotation``). The chunker keeps
chunks inside one section and every chunk carries its section path: retrieval matches it and the
prompt shows it, so a sentence such as "The default is 5." is not read without its heading.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from askai.locations import Location

PATH_SEPARATOR = " › "


@dataclass(frozen=True)
class Section:
    start: int  # offset in the document text where the section's first block starts
    path: str  # its headings, outermost first, joined by PATH_SEPARATOR


@dataclass(frozen=True)
class LoadedDocument:
    """What a loader makes of a file: the text askai stores (citations quote it and offsets
    point into it), its title, its sections (heading paths) and where its pages, slides or rows
    start (:class:`~askai.locations.Location`)."""

    text: str
    title: str
    sections: list[Section] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)


class TextBuilder:
    """Blocks of text in reading order → the document text and its sections.

    >>> b = TextBuilder()
    >>> b.heading(1, "Logging")
    >>> b.block("Logs rotate daily.")
    >>> b.text(), b.sections()
    ('Logging\\n\\nLogs rotate daily.', [Section(start=0, path='Logging')])
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._headings: list[tuple[float, str]] = []  # (level, title), outermost first
        self._sections: list[Section] = []
        self._where: tuple[str, int, str, str] | None = None  # the unit the next block is in
        self._locations: list[Location] = []

    @property
    def path(self) -> str:
        return PATH_SEPARATOR.join(title for _, title in self._headings)

    def heading(self, level: float, title: str, *, show: bool = True) -> None:
        """Open a section at ``level`` (1 is outermost); it closes the open sections at the
        same or deeper levels. With ``show`` the title is also a block of the text."""
        title = " ".join(title.split())
        if not title:
            return
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, title))
        if show:
            self.block(title)

    def locate(self, unit: str, number: int = 0, *, scope: str = "", note: str = "") -> None:
        """The blocks from here on are in this unit (page 3, slide 2, sheet Costs row 14); it is
        recorded where the next block starts."""
        self._where = (unit, number, scope, note)

    def close(self, level: float) -> None:
        """Close the sections at ``level`` and deeper (a definition list's term, after its
        description): the text that follows belongs to the section around them again."""
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()

    def block(self, text: str, *, separator: str = "\n\n") -> tuple[int, int]:
        """Append one block (its lines kept); return its offsets in the text."""
        text = text.strip("\n")
        if not text.strip():
            return (self._length, self._length)
        if self._parts:
            self._parts.append(separator)
            self._length += len(separator)
        start = self._length
        path = self.path
        if not self._sections or self._sections[-1].path != path:
            self._sections.append(Section(start, path))
        if self._where is not None:
            last = self._locations[-1] if self._locations else None
            if last is None or (last.unit, last.number, last.scope, last.note) != self._where:
                self._locations.append(Location(start, *self._where))
        self._parts.append(text)
        self._length += len(text)
        return start, self._length

    def text(self) -> str:
        return "".join(self._parts)

    def locations(self) -> list[Location]:
        return list(self._locations)

    def document(self, title: str = "") -> LoadedDocument:
        return LoadedDocument(self.text(), title, self.sections(), self.locations())

    def sections(self) -> list[Section]:
        """Section starts in order; sections with no heading (text before the first) have an
        empty path and are left out."""
        return [s for s in self._sections if s.path]


def section_at(sections: list[Section], offset: int) -> str:
    """The path of the section holding ``offset`` ("" before the first section)."""
    import bisect

    i = bisect.bisect_right([s.start for s in sections], offset) - 1
    return sections[i].path if i >= 0 else ""


def short_path(path: str, max_chars: int = 90) -> str:
    """The innermost headings of ``path`` that fit in ``max_chars`` (at least the last one)."""
    parts = path.split(PATH_SEPARATOR)
    kept = [parts[-1]]
    for part in reversed(parts[:-1]):
        if len(PATH_SEPARATOR.join([part, *kept])) > max_chars:
            break
        kept.insert(0, part)
    return PATH_SEPARATOR.join(kept)
