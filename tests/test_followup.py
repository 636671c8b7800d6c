"""Chat history is bounded by tokens before it reaches the model: a long chat keeps answering."""

from __future__ import annotations

from pathlib import Path

import pytest

from askai.engine import Engine
from askai.followup import REWRITE_MAX_TOKENS, fit_history, rewrite_budget
from askai.llm.base import estimate_tokens, prompt_tokens, token_counter

from .conftest import ScriptedLLM, make_settings


def test_fit_history_keeps_the_latest_turns_that_fit() -> None:
    turns = [(f"Question {i}?", f"Answer number {i} " * 10) for i in range(10)]
    one = estimate_tokens("User: Question 9?\nAssistant: " + turns[9][1].strip()) + 1
    kept = fit_history(turns, budget=3 * one + 2, count=estimate_tokens, turns=10)
    assert [q for q, _ in kept] == ["Question 7?", "Question 8?", "Question 9?"]  # in chat order
    assert fit_history(turns, budget=10_000, count=estimate_tokens, turns=2) == [
        (q, a.strip()) for q, a in turns[-2:]
    ]
    assert fit_history([], budget=100, count=estimate_tokens) == []
    assert fit_history(turns, budget=0, count=estimate_tokens) == []


def test_an_over_long_turn_is_cut_to_the_budget() -> None:
    turns = [("Short?", "Short."), ("What about the lamp? " * 300, "It is bright. " * 400)]
    [(q, a)] = fit_history(turns, budget=50, count=estimate_tokens)
    assert q.startswith("What about the lamp?") and q.endswith("…") and a == ""
    assert estimate_tokens(f"User: {q}\nAssistant: {a}") <= 50


@pytest.mark.parametrize(
    ("n_ctx", "question", "answer"),
    [  # a Chinese chat at the default context; an English one at a small context
        (4096, "灯塔是哪一年建成的，由谁设计？" * 133, "灯塔建于一八七四年，由工程师设计。" * 180),
        (1024, "Tell me again about the lighthouse and its keeper, please. " * 33,
         "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell. " * 40),
    ],
)
def test_a_sixty_turn_chat_stays_within_the_context(
    tmp_path: Path, embedder, docs: Path, n_ctx: int, question: str, answer: str  # noqa: ANN001
) -> None:
    settings = make_settings(tmp_path, llm={"n_ctx": n_ctx})
    llm = ScriptedLLM("When was the Harrowgate lighthouse built?")
    engine = Engine(settings, embedder=embedder, llm=llm)
    engine.ingest([docs], progress=False)
    history = [(f"{i}: {question}"[:2000], f"{i}: {answer}") for i in range(60)]
    result = engine.ask("When was it built and who designed it?", history=history)
    assert result.searched == "When was the Harrowgate lighthouse built?"  # rewritten, answered
    rewrite = llm.prompts[0]
    count = token_counter(llm)
    assert prompt_tokens(rewrite, count) + REWRITE_MAX_TOKENS <= n_ctx
    assert "59: " in rewrite[-1]["content"]  # the latest turn is the one kept
    budget = rewrite_budget("When was it built and who designed it?", count, n_ctx=n_ctx)
    assert 0 < budget < n_ctx
