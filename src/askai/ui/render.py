"""HTML for the page's sources panel and timing line (no retrieval logic here)."""

from __future__ import annotations

import re
from html import escape

from askai.types import Answer


def sources_html(answer: Answer) -> str:
    parts = [
        '<div class="askai-sources">',
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
            f'<div class="source" id="source-{c.marker}">'
            f'<div class="source-head"><b>[{c.marker}]</b> '
            f'<span class="doc" title="{escape(c.source)}">{escape(c.name or c.source)}</span> '
            f'<span class="score">retrieval score {c.retrieval_score:.2f} · '
            f"support {c.score:.2f} · characters {c.start}–{c.end}</span></div>"
            f'<div class="passage">{escape(before)}<mark>{escape(c.quote)}</mark>'
            f"{escape(after)}</div></div>"
        )
    dropped = [s for s in answer.sentences if not s.supported]
    if dropped:
        parts.append('<div class="dropped"><b>Removed from the answer:</b><ul>')
        parts += [f"<li>{escape(s.text)} <i>({escape(s.reason)})</i></li>" for s in dropped]
        parts.append("</ul></div>")
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


def answer_markdown(answer: Answer) -> str:
    """The answer as shown in the chat: refusals plainly, dropped sentences flagged."""
    if answer.refused:
        return f"*{answer.text}*"
    dropped = sum(not s.supported for s in answer.sentences)
    note = f"\n\n⚠️ {dropped} unsupported sentence(s) removed — see Sources." if dropped else ""
    return answer.text + note


CSS = """
.askai-sources .source { border: 1px solid #ddd; border-radius: 6px; padding: 8px; margin: 6px 0; }
.askai-sources .doc { font-family: monospace; }
.askai-sources .score { color: #666; font-size: 0.85em; }
.askai-sources .passage { margin-top: 4px; white-space: pre-wrap; }
.askai-sources mark { background: #ffe066; }
.askai-sources .refused { color: #a15c00; }
.askai-sources .relevance { color: #666; font-size: 0.85em; }
.askai-sources .dropped { color: #a10000; font-size: 0.9em; }
"""
