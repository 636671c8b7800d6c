"""HTML by its structure (BeautifulSoup): the page's main content, block by block.

- Only the main content is read (``<main>``, ``role="main"``, ``<article>``, else ``<body>``);
  navigation, sidebars, headers, footers, forms, scripts and Sphinx's ``¶`` links are dropped.
- ``<h1>``–``<h6>`` open sections; a definition list's term (``<dt>``: a glossary entry, or an API
  signature in Sphinx documentation such as ``str.split(sep=None, maxsplit=-1)``) opens a section
  for its description, so "The default is -1." carries the signature it belongs to.
- Paragraphs, list items (``- item``, one per line, nested lists indented), code blocks (lines
  kept) and table rows are blocks. A table row is written with its header,
  ``Directive: %d | Meaning: Day of the month …``, so every row stands on its own.
"""

from __future__ import annotations

from typing import Any

from askai.ingest.structure import TextBuilder

_DROP = ("script", "style", "noscript", "template", "nav", "footer", "form", "button",
         "svg", "iframe", "head")
_DROP_ROLES = ("navigation", "search", "banner", "contentinfo")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "div", "section", "article", "main", "header", "blockquote", "pre", "ul", "ol", "li",
    "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "figure",
    "figcaption", "hr", "br", "details", "summary", "caption", "address", "center",
    *_HEADINGS,
}
_DT_LEVEL = 10  # definition terms nest below every <h6>


def load_html(markup: str) -> tuple[str, str, list]:
    """``(text, title, sections)`` of an HTML page."""
    builder = TextBuilder()
    title = add_html(builder, markup)
    return builder.text(), title, builder.sections()


def add_html(builder: TextBuilder, markup: str) -> str:
    """Add the blocks of an HTML page (or an EPUB chapter) to ``builder``; returns its title:
    its ``<title>``, else its first heading ("" when it has neither)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": list(_DROP_ROLES)}):
        tag.decompose()
    for tag in soup.find_all("a", class_="headerlink"):
        tag.decompose()
    root = (
        soup.find("main") or soup.find(attrs={"role": "main"}) or soup.find("article")
        or soup.body or soup
    )
    if not title and (first := root.find(list(_HEADINGS))) is not None:
        title = _inline(first)
    _Walker(builder).blocks(root)
    return title


def _raw(node: Any) -> str:
    """The text a browser shows for ``node``, white space not yet collapsed: adjacent inline
    elements run together (``<code>str</code>.split`` is ``str.split``), block boundaries inside
    it become spaces, comments are skipped."""
    from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

    skip = (Comment, Declaration, Doctype, ProcessingInstruction)
    if isinstance(node, NavigableString):
        return "" if isinstance(node, skip) else str(node)
    parts = []
    for d in node.descendants:
        if isinstance(d, NavigableString):
            if not isinstance(d, skip):
                parts.append(str(d))
        elif d.name in _BLOCKS:
            parts.append(" ")
    return "".join(parts)


def _inline(node: Any) -> str:
    return " ".join(_raw(node).split())


def _has_blocks(node: Any) -> bool:
    return any(getattr(d, "name", None) in _BLOCKS for d in node.descendants)


class _Walker:
    def __init__(self, builder: TextBuilder) -> None:
        self.b = builder
        self.dl_depth = 0
        self.list_depth = 0

    def blocks(self, node: Any) -> None:
        """Emit the blocks under ``node``: runs of inline content become paragraphs."""
        run: list[str] = []

        def flush() -> None:
            text = " ".join("".join(run).split())
            if text:
                self.b.block(text)
            run.clear()

        for child in node.children:
            name = getattr(child, "name", None)
            if name is None or name not in _BLOCKS:
                run.append(_raw(child))
                continue
            flush()
            self.element(child)
        flush()

    def element(self, el: Any) -> None:
        name = el.name
        if name in _HEADINGS:
            self.b.heading(_HEADINGS[name], _inline(el))
        elif name == "pre":
            code = el.get_text().strip("\n")
            if code.strip():
                self.b.block("\n".join(line.rstrip() for line in code.splitlines()))
        elif name in ("ul", "ol"):
            self.list(el)
        elif name == "dl":
            self.definitions(el)
        elif name == "table":
            self.table(el)
        elif name in ("br", "hr"):
            return
        elif name in ("p", "dt", "dd", "li", "td", "th", "figcaption", "caption", "summary") \
                and not _has_blocks(el):
            self.b.block(_inline(el))
        else:
            self.blocks(el)

    def list(self, el: Any) -> None:
        self.list_depth += 1
        indent = "  " * (self.list_depth - 1)
        first = True
        for li in el.find_all("li", recursive=False):
            own_parts: list[str] = []
            nested = []
            for c in li.children:
                name = getattr(c, "name", None)
                if name is None or name not in _BLOCKS:
                    own_parts.append(_raw(c))
                elif name in ("p", "div") and not _has_blocks(c):
                    own_parts.append(f" {_raw(c)} ")
                else:
                    nested.append(c)
            own = " ".join("".join(own_parts).split())
            if own:
                self.b.block(f"{indent}- {own}", separator="\n\n" if first else "\n")
                first = False
            for child in nested:
                self.element(child)
                first = True
        self.list_depth -= 1

    def definitions(self, el: Any) -> None:
        self.dl_depth += 1
        level = _DT_LEVEL + self.dl_depth
        for child in el.children:
            name = getattr(child, "name", None)
            if name == "dt":
                self.b.heading(level, _inline(child))
            elif name == "dd":
                self.blocks(child)
            elif name in _BLOCKS:
                self.element(child)
        self.b.close(level)
        self.dl_depth -= 1

    def table(self, el: Any) -> None:
        caption = el.find("caption")
        if caption:
            self.b.block(_inline(caption))
        rows = [r for r in el.find_all("tr") if r.find_parent("table") is el]
        header: list[str] = []
        lines: list[str] = []
        for row in rows:
            cells = [_inline(c) for c in row.find_all(["td", "th"], recursive=False)]
            if not any(cells):
                continue
            is_header = row.find_parent("thead") is not None or all(
                c.name == "th" for c in row.find_all(["td", "th"], recursive=False)
            )
            if is_header and not lines:
                header = cells
                continue
            if header and len(header) == len(cells):
                lines.append(" | ".join(
                    f"{h}: {c}" if h else c for h, c in zip(header, cells, strict=True) if c
                ))
            else:
                lines.append(" | ".join(c for c in cells if c))
        for i, line in enumerate(lines):
            self.b.block(line, separator="\n\n" if i == 0 else "\n")
