"""Follow-up questions: rewrite "What problem do they work around?" into a standalone question
from the chat history before retrieval, so search sees what the reader means."""

from __future__ import annotations

import re
from collections.abc import Sequence

from askai.answer import strip_markers
from askai.llm.base import Message

Turn = tuple[str, str]  # (question, answer)

_REFERRING = re.compile(
    r"\b(?:they|them|their|theirs|it|its|this|that|these|those|he|him|his|she|her|there|"
    r"the (?:company|companies|firm|firms|city|cities|country|model|models|chip|chips|plan|"
    r"technology|article|same)|also|else|more|another|other)\b",
    re.IGNORECASE,
)

REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone question that can be understood without "
    "the conversation: replace pronouns and vague references with the names they stand for. "
    "Do not answer it. Output only the rewritten question."
)


def needs_rewrite(question: str, history: Sequence[Turn]) -> bool:
    """A follow-up needs rewriting when there is history and it refers back to it."""
    return bool(history) and bool(_REFERRING.search(question))


def build_rewrite_messages(question: str, history: Sequence[Turn], turns: int = 2) -> list[Message]:
    lines = []
    for q, a in list(history)[-turns:]:
        lines.append(f"User: {q}")
        lines.append(f"Assistant: {strip_markers(a)[:400]}")
    conversation = "\n".join(lines)
    user = f"Conversation:\n{conversation}\n\nLast question: {question}\nStandalone question:"
    return [{"role": "system", "content": REWRITE_PROMPT}, {"role": "user", "content": user}]


def clean_rewrite(raw: str) -> str:
    """The first line of the model's reply, without labels or quotes."""
    line = next((ln.strip() for ln in raw.strip().splitlines() if ln.strip()), "")
    label = r"^(?:standalone question|rewritten question|question)\s*:\s*"
    line = re.sub(label, "", line, flags=re.IGNORECASE)
    return line.strip().strip("\"'“”").strip()
