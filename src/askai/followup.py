"""Follow-up questions: rewrite "What problem do they work around?" into a standalone question
from the chat history before retrieval, so search sees what the reader means. The history given
to the model is bounded by tokens (the model's own tokenizer when its backend has one), so a chat
of any length fits the model's context."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from askai.answer import strip_markers
from askai.llm.base import Message, prompt_tokens

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


REWRITE_MAX_TOKENS = 64  # longest standalone question the model may write
HISTORY_TURNS = 2  # a reference points back a turn or two; a short prompt is a fast one
ANSWER_CHARS = 400  # of each earlier answer: its start names what it is about


def _turn_text(question: str, answer: str) -> str:
    return f"User: {question}\nAssistant: {answer}"


def _turn_tokens(question: str, answer: str, count: Callable[[str], int]) -> int:
    return count(_turn_text(question, answer)) + 1  # and the line break before the next turn


def _cut(question: str, answer: str, n: int) -> Turn:
    """The first ``n`` characters of the turn (question first, then answer), marked as cut."""
    if n <= len(question):
        return question[:n].rstrip() + "…", ""
    return question, answer[: n - len(question)].rstrip() + "…"


def fit_history(
    history: Sequence[Turn],
    budget: int,
    count: Callable[[str], int],
    turns: int = HISTORY_TURNS,
) -> list[Turn]:
    """The latest turns (at most ``turns``, each answer's first ``ANSWER_CHARS`` characters
    without its [n] markers) whose lines fit in ``budget`` tokens as counted by ``count``, in chat
    order. When even the latest turn alone is too long it is cut to fit (question first, then
    answer, ending in "…"); nothing is kept when nothing fits.

        >>> fit_history([("Who built it?", "Mara Quell [1].")], 100, len)
        [('Who built it?', 'Mara Quell.')]
    """
    kept: list[Turn] = []
    left = budget
    for question, answer in reversed(list(history)[-turns:] if turns > 0 else []):
        q, a = " ".join(question.split()), strip_markers(answer)[:ANSWER_CHARS]
        cost = _turn_tokens(q, a, count)
        if cost <= left:
            kept.append((q, a))
            left -= cost
            continue
        if not kept:  # the latest turn alone is over the budget: keep as much of it as fits
            low, high = 0, len(q) + len(a)  # the longest prefix that fits, by bisection
            while low < high:
                mid = (low + high + 1) // 2
                if _turn_tokens(*_cut(q, a, mid), count) <= left:
                    low = mid
                else:
                    high = mid - 1
            if low > 0:
                kept.append(_cut(q, a, low))
        break
    return kept[::-1]


def build_rewrite_messages(question: str, history: Sequence[Turn]) -> list[Message]:
    """The rewrite prompt over ``history`` as given (bound it first: :func:`rewrite_messages`)."""
    lines = []
    for q, a in history:
        lines.append(f"User: {q}")
        lines.append(f"Assistant: {strip_markers(a)}")
    conversation = "\n".join(lines)
    user = f"Conversation:\n{conversation}\n\nLast question: {question}\nStandalone question:"
    return [{"role": "system", "content": REWRITE_PROMPT}, {"role": "user", "content": user}]


def rewrite_budget(
    question: str, count: Callable[[str], int], *, n_ctx: int, history_tokens: int = 0
) -> int:
    """Tokens the chat history may take in the rewrite prompt: what the model's context
    (``n_ctx``) leaves after the prompt without history and the reply, or ``history_tokens`` when
    that is set and smaller."""
    room = n_ctx - REWRITE_MAX_TOKENS - prompt_tokens(build_rewrite_messages(question, []), count)
    return max(0, min(room, history_tokens) if history_tokens > 0 else room)


def rewrite_messages(
    question: str,
    history: Sequence[Turn],
    *,
    count: Callable[[str], int],
    n_ctx: int,
    history_tokens: int = 0,
) -> list[Message]:
    """The rewrite prompt with the latest turns that fit the model's context (see
    :func:`fit_history` and :func:`rewrite_budget`), however long the chat."""
    budget = rewrite_budget(question, count, n_ctx=n_ctx, history_tokens=history_tokens)
    return build_rewrite_messages(question, fit_history(history, budget, count))


def clean_rewrite(raw: str) -> str:
    """The first line of the model's reply, without labels or quotes."""
    line = next((ln.strip() for ln in raw.strip().splitlines() if ln.strip()), "")
    label = r"^(?:standalone question|rewritten question|question)\s*:\s*"
    line = re.sub(label, "", line, flags=re.IGNORECASE)
    return line.strip().strip("\"'“”").strip()
