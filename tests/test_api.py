from __future__ import annotations

import pytest

import askai
from askai.engine import Engine
from askai.errors import AskaiError, IndexNotFoundError, InputError

from .conftest import ScriptedLLM


@pytest.mark.parametrize(
    ("question", "top_k", "message"),
    [
        ("", None, "empty"),
        ("   \n\t ", None, "empty"),
        ("x" * 2001, None, "2001 characters"),
        ("Fine question?", 0, "top_k between 1 and 50"),
        ("Fine question?", 51, "top_k between 1 and 50"),
        ("Fine question?", "3", "top_k"),
        (None, None, "string"),
    ],
)
def test_bad_input_is_a_clear_error(engine: Engine, question, top_k, message) -> None:  # noqa: ANN001
    engine._llm = ScriptedLLM("unused")
    with pytest.raises(InputError, match=message) as info:
        askai.ask(question, engine=engine, top_k=top_k)
    assert isinstance(info.value, ValueError) and isinstance(info.value, AskaiError)


def test_empty_index_says_to_ingest(engine: Engine) -> None:
    engine._llm = ScriptedLLM("unused")
    with pytest.raises(IndexNotFoundError, match="askai ingest"):
        askai.ask("What is in here?", engine=engine)
    for call in (engine.search, engine.retrieve):
        with pytest.raises(IndexNotFoundError, match=f"index at {engine.settings.store.path}"):
            call("What is in here?")


def test_public_names() -> None:
    for name in ("ask", "ask_stream", "build_engine", "ingest", "Answer", "Citation", "Settings",
                 "AskaiError"):
        assert hasattr(askai, name)


def test_document_management(engine: Engine, docs) -> None:  # noqa: ANN001
    askai.ingest(docs, engine=engine, progress=False)
    lighthouse = (docs / "lighthouse.txt").resolve().as_posix()  # documents are their paths
    assert "Mara Quell" in engine.document_text(lighthouse)
    engine.delete_document(lighthouse)
    assert lighthouse not in {d.doc_id for d in engine.documents()}
    assert engine.store.chunks_of(lighthouse) == []
    with pytest.raises(IndexNotFoundError):
        engine.delete_document(lighthouse)
