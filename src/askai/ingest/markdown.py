"""Markdown: the file's own text, verbatim (offsets point into the file), with its headings found
by a real Markdown parser (markdown-it-py, CommonMark): ATX (``## Title``) and setext headings
open sections; a ``#`` inside a code block does not."""

from __future__ import annotations

from askai.ingest.structure import Section, TextBuilder


def markdown_sections(text: str) -> list[Section]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)
    path = TextBuilder()  # used for its heading stack only
    sections: list[Section] = []
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or not token.map:
            continue
        level = int(token.tag[1])
        title = tokens[i + 1].content if i + 1 < len(tokens) else ""
        path.heading(level, title, show=False)
        start = line_starts[min(token.map[0], len(line_starts) - 1)]
        sections.append(Section(start, path.path))
    return sections
