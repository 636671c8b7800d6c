from __future__ import annotations

import pytest

from askai.errors import ConfigError
from askai.settings import load_settings


def test_defaults() -> None:
    s = load_settings()
    assert s.store.backend == "chroma" and s.llm.backend == "llama-cpp"
    assert s.retrieval.top_k >= 1 and s.ui.host == "127.0.0.1"


def test_environment_overrides_nested(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKAI_RETRIEVAL__TOP_K", "7")
    monkeypatch.setenv("ASKAI_STORE__PATH", "/tmp/somewhere")
    s = load_settings()
    assert s.retrieval.top_k == 7 and str(s.store.path) == "/tmp/somewhere"


def test_unknown_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKAI_STORE__BACKEND", "pinecone")
    with pytest.raises(ConfigError, match="store.backend"):
        load_settings()


def test_typo_in_a_field_fails_at_load() -> None:
    with pytest.raises(ConfigError, match="top_kk"):
        load_settings(retrieval={"top_kk": 3})


def test_config_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    config = tmp_path / "askai.toml"
    config.write_text("[retrieval]\ntop_k = 9\n")
    monkeypatch.setenv("ASKAI_CONFIG", str(config))
    assert load_settings().retrieval.top_k == 9
    monkeypatch.setenv("ASKAI_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="missing.toml"):
        load_settings()
