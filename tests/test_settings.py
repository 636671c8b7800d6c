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


@pytest.mark.parametrize(
    ("name", "closest"),
    [("ASKAI_RETRIEVAL_TOP_K", "ASKAI_RETRIEVAL__TOP_K"),  # one underscore instead of two
     ("ASKAI_LLM_N_CTX", "ASKAI_LLM__N_CTX"),
     ("askai_store__pth", "ASKAI_STORE__PATH")],
)
def test_unknown_variable_names_itself_and_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, closest: str
) -> None:
    monkeypatch.setenv(name, "9")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert name in message and closest in message and "\n" not in message


def test_unknown_variable_without_a_near_setting_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASKAI_FOO", "1")
    with pytest.raises(ConfigError, match="ASKAI_FOO"):
        load_settings()


def test_variables_askai_reads_that_are_not_settings_are_accepted(
    tmp_path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    from askai.settings import NON_SETTING_VARIABLES

    assert "ASKAI_CONFIG" in NON_SETTING_VARIABLES
    config = tmp_path / "askai.toml"
    config.write_text("")
    monkeypatch.setenv("ASKAI_CONFIG", str(config))
    monkeypatch.setenv("ASKAI_RETRIEVAL", '{"top_k": 5}')  # a whole section as JSON is valid
    assert load_settings().retrieval.top_k == 5


def test_bad_value_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKAI_RETRIEVAL__TOP_K", "zero")
    with pytest.raises(ConfigError, match="ASKAI_RETRIEVAL__TOP_K"):
        load_settings()


def test_malformed_config_file_names_file_line_and_problem(
    tmp_path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    config = tmp_path / "askai.toml"
    config.write_text("[llm]\nn_ctx = 2048\n[retrieval\ntop_k = 6\n")
    monkeypatch.setenv("ASKAI_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"Config file {config} is not valid TOML: Expected ']'")
    assert message.endswith("(line 3, column 11)")


@pytest.mark.parametrize(
    ("text", "named"),
    [("[retrieval]\ntop_k = 'six'\n", "retrieval.top_k"),
     ("[retrieval]\ntop_kk = 6\n", "retrieval.top_kk"),
     ("retrieval_top_k = 6\n", "retrieval_top_k")],
)
def test_bad_entry_in_config_file_names_the_file(
    tmp_path, monkeypatch: pytest.MonkeyPatch, text: str, named: str  # noqa: ANN001
) -> None:
    config = tmp_path / "askai.toml"
    config.write_text(text)
    monkeypatch.setenv("ASKAI_CONFIG", str(config))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(config) in str(caught.value) and named in str(caught.value)
