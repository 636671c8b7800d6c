"""HTML for the page's sources panel and timing line (no retrieval logic here)."""

from __future__ import annotations

import re
from html import escape

from askai.types import Answer, Passage


def source_id(key: int, marker: int) -> str:
    """The element id of source ``marker`` of the answer ``key`` (the turn): the target of the
    answer's ``[n]`` links, unique across the turns of a chat."""
    return f"source-{key}-{marker}"


def _head(label: str, title: str, where: str, name: str, source: str, scores: str) -> str:
    return (
        f'<div class="source-head"><b class="marker">{escape(label)}</b> '
        f'<span class="title">{escape(title or name or source)}</span>'
        + (f' <span class="where">{escape(where)}</span>' if where else "")
        + f'<br><span class="doc" title="{escape(source)}">{escape(name or source)}</span> '
        f'<span class="score">{scores}</span></div>'
    )


def _open_button(source: str, start: int, end: int, location: str) -> str:
    """The button that opens the document view (the sources panel's click handler reads it)."""
    return (
        f'<button class="open-doc" data-source="{escape(source)}" data-start="{start}" '
        f'data-end="{end}" data-location="{escape(location)}">Show in document</button>'
    )


def sources_html(answer: Answer, key: int = 1) -> str:
    parts = [
        # data-turn: which turn's answer the panel shows (a turn's sources replace the previous)
        f'<div class="askai-sources" data-turn="{key}">',
        '<p class="searched"><b>Searched for:</b> '
        f"{escape(answer.searched or answer.question)}</p>",
    ]
    if answer.refused:
        parts.append(
            '<p class="refused">Refused: the documents do not answer this question, '
            "so no sources are shown.</p>"
        )
    if answer.relevance is not None:
        parts.append('<p class="relevance">Do the cited passages answer the question? The '
                     f"model says yes with probability {answer.relevance:.2f}.</p>")
    for c in answer.citations:
        offset = c.start - c.passage_start
        before = _squeeze(c.passage[:offset])
        after = _squeeze(c.passage[offset + len(c.quote) :])
        parts.append(
            f'<div class="source" id="{source_id(key, c.marker)}">'
            + _head(f"[{c.marker}]", c.title, c.location or c.section, c.name, c.source,
                    f"retrieval score {c.retrieval_score:.2f} · support {c.score:.2f}")
            + f'<div class="passage">{escape(before)}<mark>{escape(c.quote)}</mark>'
            f"{escape(after)}</div>"
            + _open_button(c.source, c.start, c.end, c.location)
            + "</div>"
        )
    dropped = [s for s in answer.sentences if not s.supported]
    if dropped:
        parts.append('<div class="dropped"><b>Removed from the answer:</b><ul>')
        parts += [f"<li>{escape(s.text)} <i>({escape(s.reason)})</i></li>" for s in dropped]
        parts.append("</ul></div>")
    parts.append("</div>")
    return "".join(parts)


def passages_html(passages: list[Passage]) -> str:
    """The sources panel while the model works: the passages retrieved for it to read."""
    if not passages:
        return ('<div class="askai-sources"><p class="retrieved-note">No passage was found; '
                "finishing…</p></div>")
    parts = [
        '<div class="askai-sources">',
        f'<p class="retrieved-note"><i>Retrieved {len(passages)} passage'
        f'{"s" if len(passages) != 1 else ""}; the model is reading them. The cited quotes '
        "replace them when the answer is checked.</i></p>",
    ]
    for i, p in enumerate(passages, 1):
        parts.append(
            f'<div class="source retrieved" id="passage-{i}">'
            + _head(f"#{i}", p.title, p.location or p.section, p.name, p.source,
                    f"retrieval score {p.score:.2f}")
            + f'<div class="passage">{escape(_squeeze(p.text))}</div>'
            + _open_button(p.source, p.start, p.end, p.location)
            + "</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def _squeeze(text: str) -> str:
    return re.sub(r"\n\s*\n+", "\n", text)


def timing_text(answer: Answer) -> str:
    t = answer.timings
    text = (
        f"retrieval {t.get('retrieve_s', 0) * 1000:.0f} ms · "
        f"first token {t.get('first_token_s', 0):.2f} s · total {t.get('total_s', 0):.2f} s"
    )
    if t.get("rewrite_s", 0) > 0.05:
        text = f"follow-up rewrite {t['rewrite_s']:.2f} s · " + text
    return text


MARKER = re.compile(r"\[(\d+)\]")
LINKED_MARKER = re.compile(r"\[\[(\d+)\]\]\(#source-\d+-\d+\)")


def answer_markdown(answer: Answer, key: int = 1) -> str:
    """The answer as shown in the chat: refusals plainly, dropped sentences flagged, each ``[n]``
    a link to its source in the panel."""
    if answer.refused:
        return f"*{answer.text}*"
    markers = {c.marker for c in answer.citations}
    text = MARKER.sub(
        lambda m: f"[[{m.group(1)}]](#{source_id(key, int(m.group(1)))})"
        if int(m.group(1)) in markers else m.group(0),
        answer.text,
    )
    dropped = sum(not s.supported for s in answer.sentences)
    note = f"\n\n⚠️ {dropped} unsupported sentence(s) removed — see Sources." if dropped else ""
    return text + note


def unlink_markers(text: str) -> str:
    """The answer text of :func:`answer_markdown` with its marker links back to plain ``[n]``."""
    return LINKED_MARKER.sub(r"[\1]", text)


CSS = """
.askai-sources .source { border: 1px solid #ddd; border-radius: 6px; padding: 8px; margin: 6px 0; }
.askai-sources .title, .askai-docview .title { font-weight: 600; }
.askai-sources .where, .askai-docview .where { color: #35557a; }
.askai-sources .doc, .askai-docview .doc { font-family: monospace; font-size: 0.85em; color: #555; }
.askai-sources .source { transition: background-color 0.3s, box-shadow 0.3s; scroll-margin: 80px; }
.askai-sources .source.highlight { background: #fff6cc; box-shadow: 0 0 0 3px #f0b400; }
.askai-sources .retrieved { border-style: dashed; }
.askai-sources .retrieved-note { color: #555; font-size: 0.9em; }
.askai-sources .open-doc { margin-top: 6px; font-size: 0.85em; padding: 2px 8px;
  border: 1px solid #bbb; border-radius: 4px; background: #f7f7f7; cursor: pointer; }
.askai-docview { border-top: 2px solid #ddd; margin-top: 8px; padding-top: 6px; }
.askai-docview .chars { color: #666; font-size: 0.85em; }
.askai-docview .pdf-page img { max-width: 100%; border: 1px solid #ccc; }
.askai-docview .pdf-page figcaption { color: #666; font-size: 0.85em; }
.askai-docview .context { white-space: pre-wrap; max-height: 420px; overflow-y: auto;
  border: 1px solid #ddd; border-radius: 6px; padding: 8px; margin-top: 6px; }
.askai-docview mark { background: #ffe066; }
.askai-docview .note { color: #a15c00; }
.askai-sources .score { color: #666; font-size: 0.85em; }
.askai-sources .passage { margin-top: 4px; white-space: pre-wrap; }
.askai-sources mark { background: #ffe066; }
.askai-sources .refused { color: #a15c00; }
.askai-sources .relevance { color: #666; font-size: 0.85em; }
.askai-sources .dropped { color: #a10000; font-size: 0.9em; }
"""

# js_on_load of the sources panel. Once per page, a capturing click handler makes each answer's
# [n] link scroll to its source and highlight it (the chat's own link handling never sees the
# click). The panel's "Show in document" buttons send their data to the document view's event.
SOURCES_JS = """
if (!window.askaiMarkerLinks) {
  window.askaiMarkerLinks = true;
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#source-"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const target = document.getElementById(link.getAttribute('href').slice(1));
    if (!target) return;
    document.querySelectorAll('.askai-sources .source.highlight')
      .forEach((e) => e.classList.remove('highlight'));
    target.classList.add('highlight');
    target.scrollIntoView({behavior: 'smooth', block: 'center'});
  }, true);
}
element.addEventListener('click', (event) => {
  const button = event.target.closest('.open-doc');
  if (!button) return;
  trigger('click', {source: button.dataset.source, start: Number(button.dataset.start),
                    end: Number(button.dataset.end), location: button.dataset.location || ''});
});
"""

# js_on_load of the document view: each new view scrolls into sight with its quote.
DOCVIEW_JS = """
watch('value', () => {
  const quote = element.querySelector('#docview-quote');
  if (quote) quote.scrollIntoView({block: 'center'});
  const page = element.querySelector('.pdf-page') || element.querySelector('.docview-head');
  if (page) page.scrollIntoView({behavior: 'smooth', block: 'start'});
});
"""
