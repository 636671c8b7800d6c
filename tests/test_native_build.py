"""The llama.cpp build: the install step's flags and cache key, the guard's decision at model load,
and `askai doctor`. The slow tests look at the build this environment actually has."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from askai.cli import main
from askai.errors import UnsupportedBuildError
from askai.llm import native_build
from askai.llm.native_build import build_key, check_build, cpu_flags, system_info_features

ROOT = Path(__file__).resolve().parents[1]

# llama_print_system_info() of llama-cpp-python 0.3.36 built with -march=native on an Intel Xeon
# (Sapphire Rapids), on an AMD EPYC, and of the same Xeon build made with -mno-amx-*.
XEON_NATIVE = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
XEON_NO_AMX = XEON_NATIVE.replace("AMX_INT8 = 1 | ", "")
EPYC_NATIVE = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
XEON_FLAGS = set(
    "fpu sse sse2 pni ssse3 sse4_1 sse4_2 avx avx2 f16c fma bmi2 avx512f avx512bw avx512vl "
    "avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_tile amx_int8 amx_bf16".split()
)
EPYC_FLAGS = set("fpu sse sse2 pni ssse3 sse4_1 sse4_2 avx avx2 f16c fma bmi2".split())


def test_system_info_is_parsed_into_features() -> None:
    features = system_info_features(XEON_NATIVE)
    assert features["AVX512"] and features["AMX_INT8"] and features["REPACK"]
    assert not system_info_features("CPU : AVX2 = 0 |")["AVX2"]


def test_amx_build_is_refused_with_the_fix() -> None:
    check = check_build(XEON_NATIVE, XEON_FLAGS)
    assert not check.ok and check.forbidden and not check.missing_on_cpu
    problem = check.problem()
    assert "AMX_INT8" in problem and "make install" in problem and "-mno-amx-int8" in problem
    assert "\n" not in problem


def test_amx_is_refused_even_without_cpuinfo() -> None:
    assert not check_build(XEON_NATIVE, set()).ok
    assert check_build(XEON_NO_AMX, set()).ok


def test_native_builds_without_amx_pass_on_their_cpu() -> None:
    assert check_build(XEON_NO_AMX, XEON_FLAGS).ok
    assert check_build(EPYC_NATIVE, EPYC_FLAGS).ok
    assert check_build(EPYC_NATIVE, XEON_FLAGS).ok  # an AVX2 build runs on an AVX-512 CPU


def test_a_build_from_a_bigger_cpu_is_refused_on_a_smaller_one() -> None:
    check = check_build(XEON_NO_AMX, EPYC_FLAGS)
    assert not check.ok
    assert {"AVX512", "AVX512_VNNI", "AVX512_BF16", "AVX512_VBMI"} <= set(check.missing_on_cpu)
    assert "another CPU" in check.problem()


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 amx_int8\n\n"
        "processor\t: 1\nflags\t\t: fpu avx2 amx_int8\n"
    )
    assert cpu_flags(info) == {"fpu", "avx2", "amx_int8"}
    assert native_build.cpu_model(info) == "Test CPU"
    assert cpu_flags(tmp_path / "missing") == set()


def test_cache_key_changes_with_cpu_flags_and_version() -> None:
    base = build_key("0.3.36", "-DGGML_NATIVE=ON", "-mno-amx-int8", "gcc 12", EPYC_FLAGS)
    assert base == build_key("0.3.36", "-DGGML_NATIVE=ON", "-mno-amx-int8", "gcc 12", EPYC_FLAGS)
    assert base != build_key("0.3.36", "-DGGML_NATIVE=ON", "-mno-amx-int8", "gcc 12", XEON_FLAGS)
    assert base != build_key("0.3.35", "-DGGML_NATIVE=ON", "-mno-amx-int8", "gcc 12", EPYC_FLAGS)
    assert base != build_key("0.3.36", "-DGGML_NATIVE=ON", "", "gcc 12", EPYC_FLAGS)
    assert base != build_key("0.3.36", "-DGGML_NATIVE=ON", "-mno-amx-int8", "gcc 13", EPYC_FLAGS)


def test_project_pins_the_version_the_build_script_builds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [
        r for r in project["dependencies"] + project["optional-dependencies"]["dev"]
        if r.startswith("llama-cpp-python")
    ]
    assert pins and all(
        r.endswith(f"=={native_build.LLAMA_CPP_PYTHON_VERSION}") for r in pins
    ), pins
    makefile = (ROOT / "Makefile").read_text()
    install = makefile[makefile.index("$(STAMP):"):makefile.index("install: $(STAMP)")]
    assert "src/askai/llm/native_build.py --pip" in install
    # a checkout moved to a machine with another CPU installs again (one stamp per build key)
    assert "STAMP := $(VENV)/.askai-installed-$(LLAMA_KEY)" in makefile
    # the build comes before the package install, which would otherwise compile it with pip's flags
    assert install.index("native_build.py") < install.index("pip install --quiet -e")


def test_guard_stops_model_load_before_the_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An AMX build never reaches llama.cpp's loader: the error names the fix instead."""
    from askai.llm import llamacpp

    monkeypatch.setattr(llamacpp, "system_info", lambda: XEON_NATIVE)
    monkeypatch.setattr(llamacpp, "cpu_flags", lambda: XEON_FLAGS)
    with pytest.raises(UnsupportedBuildError, match=r"AMX_INT8.*make install"):
        llamacpp.LlamaCppLLM(tmp_path / "never-read.gguf", n_ctx=512, n_threads=1)


def test_guard_error_is_one_cli_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from askai.llm import llamacpp

    monkeypatch.setenv("ASKAI_STORE__PATH", str(tmp_path / "chroma"))
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF" + bytes(60))  # passes the magic check; the guard runs before loading
    monkeypatch.setenv("ASKAI_LLM__MODEL_PATH", str(fake))
    assert main(["ingest", str(docs), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(llamacpp, "system_info", lambda: XEON_NATIVE)
    monkeypatch.setattr(llamacpp, "cpu_flags", lambda: XEON_FLAGS)
    assert main(["ask", "When was the Harrowgate lighthouse built?"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make install" in err and "Traceback" not in err


def test_doctor_reports_store_and_embedder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the local model (an OpenAI-compatible backend configured), doctor still checks
    the CPU, the embedder and the store, and says what to do about an empty one."""
    monkeypatch.setenv("ASKAI_STORE__PATH", str(tmp_path / "chroma"))
    monkeypatch.setenv("ASKAI_LLM__BACKEND", "openai")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[ +OK\] CPU: ", out) and "[WARN] store" in out and "askai ingest" in out
    assert not (tmp_path / "chroma").exists()  # doctor looks; it creates no index
    assert main(["ingest", str(docs), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\[ +OK\] store: .*\n +3 documents, \d+ chunks", out), out
    assert re.search(r"\[ +OK\] embedder: backend onnx", out)
    assert "All checks passed." in out  # no warning left once the index has documents


@pytest.mark.slow
def test_installed_build_has_no_amx_and_fits_this_cpu() -> None:
    from askai.llm.llamacpp import system_info

    info = system_info()
    features = system_info_features(info)
    assert features, info
    assert not features.get("AMX_INT8"), info
    check = check_build(info, cpu_flags())
    assert check.ok, check.problem()
    record = native_build.installed_build_record()
    if record is not None:  # made by `make install`: built for this very CPU
        assert record["cflags"] == native_build.NO_AMX_FLAGS
        assert record["key"] == build_key(
            record["version"], record["cmake_args"], record["cflags"],
            native_build.compiler_version(), cpu_flags(),
        )


@pytest.mark.slow
def test_doctor_checks_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASKAI_STORE__PATH", str(tmp_path / "chroma"))
    main(["doctor"])
    out = capsys.readouterr().out
    assert re.search(r"\[ +OK\] llama.cpp: llama-cpp-python \d", out), out
    assert "system info: CPU :" in out
    assert re.search(r"\[ +OK\] model: .*\.gguf", out) and "matches the default model's" in out
