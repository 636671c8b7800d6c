"""AnswerStream.passages: the retrieved passages before the model's first token."""

from __future__ import annotations

from pathlib import Path

from askai.answer import REFUSAL
from askai.engine import Engine

from .conftest import ScriptedLLM


class CountingLLM(ScriptedLLM):
    """A scripted reply that records whether the model was asked to generate yet."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.started = False

    def stream(self, messages, *, max_tokens, temperature=0.0, stop=None):  # noqa: ANN001
        self.started = True
        yield from super().stream(messages, max_tokens=max_tokens)


def test_passages_come_before_the_first_token(settings, embedder, docs: Path) -> None:  # noqa: ANN001
    llm = CountingLLM("Glass frogs have translucent skin [1].")
    engine = Engine(settings, embedder=embedder, llm=llm)
    engine.ingest([docs], progress=False)
    stream = engine.stream("What is special about glass frogs' skin?")
    passages = stream.passages
    assert not llm.started  # retrieval is done, the model has not been asked
    assert passages and passages[0].name == "page.html" and "translucent" in passages[0].text
    tokens = list(stream)  # no token was lost to reading the passages
    assert "".join(tokens) == "Glass frogs have translucent skin [1]."
    assert stream.passages == stream.answer.passages == passages
    assert stream.answer.citations[0].name == "page.html"


def test_passages_of_a_refusal_without_the_model(settings, embedder, docs: Path) -> None:  # noqa: ANN001
    llm = CountingLLM("unused")
    engine = Engine(settings, embedder=embedder, llm=llm)
    engine.ingest([docs], progress=False)
    stream = engine.stream("Who is Zyxwoprandt Kelberimus?")  # a name no document mentions
    assert isinstance(stream.passages, list) and not llm.started
    assert list(stream) == [] and stream.answer.refused and stream.answer.text == REFUSAL


def test_iterating_without_asking_for_passages_is_unchanged(settings, embedder, docs) -> None:  # noqa: ANN001
    llm = ScriptedLLM("Glass frogs have translucent skin [1].")
    engine = Engine(settings, embedder=embedder, llm=llm)
    engine.ingest([docs], progress=False)
    stream = engine.stream("What is special about glass frogs' skin?")
    tokens = list(stream)
    assert all(isinstance(t, str) for t in tokens) and len(tokens) > 1
    assert stream.passages == stream.answer.passages
