"""One contract, every LLM backend: llama.cpp in-process and a real OpenAI-compatible server
(llama-cpp-python's server on the same GGUF, started on loopback by the test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import askai
from askai.docnames import same_document
from askai.engine import Engine
from askai.errors import LLMError
from askai.llm.base import LLM, build_llm, complete
from askai.llm.provision import resolve_model_path
from askai.settings import LLMSettings, Settings

from .conftest import make_settings
from .servers import free_port, llama_server


@pytest.fixture(scope="module")
def gguf() -> Path:
    return resolve_model_path(None, LLMSettings().cache_dir)


@pytest.fixture(scope="module")
def openai_url(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llama_server(gguf, tmp_path_factory.mktemp("llama-server") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def backends(openai_url: str) -> dict[str, LLM]:
    return {
        "llama-cpp": build_llm(LLMSettings()),
        "openai": build_llm(LLMSettings(backend="openai", base_url=openai_url, model="qwen")),
    }


@pytest.fixture(params=["llama-cpp", "openai"])
def llm(request, backends: dict[str, LLM]) -> LLM:  # noqa: ANN001
    return backends[request.param]


@pytest.mark.slow
def test_streams_tokens_within_max_tokens(llm: LLM) -> None:
    messages = [{"role": "user", "content": "Count from 1 to 50, separated by spaces."}]
    tokens = list(llm.stream(messages, max_tokens=8))
    assert len(tokens) >= 3
    assert "1 2 3" in "".join(tokens) and len("".join(tokens)) < 40


@pytest.mark.slow
def test_greedy_is_deterministic_and_follows_instructions(llm: LLM) -> None:
    messages = [{"role": "user", "content": "Reply with exactly one word, the fruit: banana"}]
    first = complete(llm, messages, max_tokens=6, temperature=0.0)
    assert "banana" in first.lower()
    assert complete(llm, messages, max_tokens=6, temperature=0.0) == first


@pytest.mark.slow
def test_yes_probability_judges_whether_a_text_answers(backends: dict[str, LLM]) -> None:
    from askai.answer import relevance_messages

    quote = ["The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell."]
    answers = relevance_messages("When was the Harrowgate lighthouse built?", quote)
    other = relevance_messages("When was the Harrowgate lighthouse demolished?", quote)
    scores = {name: (llm.yes_probability(answers), llm.yes_probability(other))
              for name, llm in backends.items()}
    for yes, no in scores.values():
        assert 0.0 <= no < 0.4 < yes <= 1.0
    # the same weights in-process and behind the server: the same judgement
    assert scores["llama-cpp"][0] == pytest.approx(scores["openai"][0], abs=0.05)
    assert scores["llama-cpp"][1] == pytest.approx(scores["openai"][1], abs=0.05)
    # the judge's own context leaves generation as it was
    assert "banana" in complete(backends["llama-cpp"], [
        {"role": "user", "content": "Reply with exactly one word, the fruit: banana"}],
        max_tokens=6).lower()


@pytest.mark.slow
def test_ask_end_to_end_through_the_server(
    openai_url: str, embedder, corpus_copy: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    settings: Settings = make_settings(
        tmp_path, llm={"backend": "openai", "base_url": openai_url, "model": "qwen"}
    )
    engine = Engine(settings, embedder=embedder)
    assert askai.ingest([corpus_copy], engine=engine, progress=False).documents == 5
    stream = askai.ask_stream("How many registered generative AI models does Beijing have?",
                              engine=engine)
    assert len(list(stream)) > 3
    answer = stream.answer
    assert not answer.refused and "219" in answer.text
    c = answer.citations[0]
    assert same_document(c.source, "corpus/003_02d6e447c191c536.txt")
    assert engine.document_text(c.source)[c.start : c.end] == c.quote
    assert askai.ask("What is the population of Paris?", engine=engine).refused


def test_yes_share_reads_yes_and_no_in_any_spelling() -> None:
    from askai.llm.base import yes_share

    assert yes_share([("YES", 0.6), (" yes", 0.1), ("No", 0.2), ("Maybe", 0.1)]) == (
        pytest.approx(0.7 / 0.9)
    )
    assert yes_share([("NO", 0.5), ("\n", 0.5)]) == 0.0
    assert yes_share([("Sure", 0.9)]) == 0.0  # neither word: not a yes


def test_unreachable_server_is_a_clear_error() -> None:
    llm = build_llm(LLMSettings(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1",
                                model="m", timeout_s=5))
    with pytest.raises(LLMError, match="Cannot reach the LLM server"):
        complete(llm, [{"role": "user", "content": "hi"}], max_tokens=4)
