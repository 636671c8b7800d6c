"""How llama-cpp-python is built for this machine, and whether a build fits the CPU it runs on.

llama-cpp-python ships as source: pip compiles llama.cpp, by default with ``GGML_NATIVE=ON``
(``-march=native``). On Intel Xeons with AMX that turns on ggml's AMX kernels, which fault on the
first matrix multiply (llama.cpp's "segfault in ggml_backend_amx_mul_mat": the thread never asks
the kernel for XTILEDATA permission). askai therefore builds it native *minus AMX*: every other
feature of the CPU (AVX2, AVX-512, VNNI, ...) stays on, so the build is as fast as the native one.

Run as a script (``python src/askai/llm/native_build.py --pip .venv/bin/pip``, what ``make
install`` does) it builds the wheel once per (version, flags, compiler, CPU) into a project-owned
cache and installs it. The cache key covers the CPU's feature flags, so a wheel built on another
CPU, or with other flags, is never reused silently; pip's own wheel cache is not used.

Imported, it gives the decision the model loader and ``askai doctor`` make: parse llama.cpp's
system info and name any feature the build has that it must not (AMX) or that this CPU lacks.
This module uses the standard library only: the Makefile runs it before askai is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
CMAKE_ARGS = "-DGGML_NATIVE=ON"
# GCC and Clang honour an explicit -mno-<isa> whatever its position relative to -march=native,
# which ggml adds later on the command line.
NO_AMX_FLAGS = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
BUILD_RECORD = "askai-llama-build.json"
"""Written into the virtual environment (``sys.prefix``) by the install step."""

# llama.cpp's system-info names -> the /proc/cpuinfo flag each one needs.
FEATURE_CPU_FLAGS = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX_VNNI": "avx_vnni",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}
FORBIDDEN_FEATURES = {
    "AMX_INT8": "ggml's AMX kernels fault on the first matrix multiply (llama.cpp issue "
    "'segfault in ggml_backend_amx_mul_mat')",
}
FIX_HINT = (
    "rebuild it with `make install` (it builds llama-cpp-python natively without AMX), or by hand: "
    f"CMAKE_ARGS='{CMAKE_ARGS}' CFLAGS='{NO_AMX_FLAGS}' CXXFLAGS='{NO_AMX_FLAGS}' "
    f"pip install --no-cache-dir --force-reinstall --no-deps "
    f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"
)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The feature flags of the first processor in ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def system_info_features(system_info: str) -> dict[str, bool]:
    """``{"AVX2": True, "AMX_INT8": False, ...}`` from llama.cpp's ``llama_print_system_info()``
    (``"CPU : SSE3 = 1 | AVX2 = 1 | ... |"``). Only the first backend section (the CPU's) counts."""
    features: dict[str, bool] = {}
    for name, value in re.findall(r"([A-Z][A-Z0-9_]*)\s*=\s*(\d+)", system_info):
        features.setdefault(name, value != "0")
    return features


@dataclass(frozen=True)
class BuildCheck:
    forbidden: list[str]
    """Features the build has that it must never have (AMX), with the reason."""
    missing_on_cpu: list[str]
    """Features the build was compiled with that this CPU does not have (illegal instruction)."""

    @property
    def ok(self) -> bool:
        return not self.forbidden and not self.missing_on_cpu

    def problem(self) -> str:
        """One line: what is wrong and the fix (empty when :attr:`ok`)."""
        parts = []
        if self.forbidden:
            parts.append("it was built with " + "; ".join(self.forbidden))
        if self.missing_on_cpu:
            parts.append(
                "it uses CPU features this machine lacks ("
                + ", ".join(self.missing_on_cpu)
                + "; it was built on another CPU)"
            )
        return (
            f"The installed llama.cpp cannot run on this CPU: {' and '.join(parts)}; "
            f"{FIX_HINT}."
            if parts
            else ""
        )


def check_build(system_info: str, flags: set[str]) -> BuildCheck:
    """Decide whether a llama.cpp build (its system info) may run on a CPU (its flags).

    ``flags`` empty (no /proc/cpuinfo) skips the missing-feature check; AMX is refused anywhere.
    """
    features = system_info_features(system_info)
    forbidden = [
        f"{name} ({why})" for name, why in FORBIDDEN_FEATURES.items() if features.get(name)
    ]
    missing = sorted(
        name
        for name, on in features.items()
        if on and flags and name in FEATURE_CPU_FLAGS and FEATURE_CPU_FLAGS[name] not in flags
    )
    return BuildCheck(forbidden=forbidden, missing_on_cpu=missing)


def compiler_version(cc: str | None = None) -> str:
    cc = cc or os.environ.get("CC") or "cc"
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.splitlines()[0].strip() if out.stdout else "unknown"


def build_key(version: str, cmake_args: str, cflags: str, compiler: str, flags: set[str]) -> str:
    """A short digest of everything that decides what the compiled library does on a CPU."""
    blob = json.dumps(
        {
            "version": version,
            "cmake_args": cmake_args,
            "cflags": cflags,
            "compiler": compiler,
            "machine": platform.machine(),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "cpu_flags": sorted(flags),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "askai" / "llama-cpp-wheels"


def build_wheel(pip: str, version: str, target: Path, env: dict[str, str]) -> Path:
    """Compile llama-cpp-python ``version`` from source into a wheel in ``target``."""
    with tempfile.TemporaryDirectory(prefix="askai-llama-build-") as tmp:
        subprocess.run(
            [
                pip, "wheel", "--no-deps", "--no-cache-dir", "--no-binary", "llama-cpp-python",
                "--wheel-dir", tmp, f"llama-cpp-python=={version}",
            ],
            check=True,
            env=env,
        )
        wheels = list(Path(tmp).glob("llama_cpp_python-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one llama-cpp-python wheel in {tmp}, found {wheels}")
        target.mkdir(parents=True, exist_ok=True)
        final = target / wheels[0].name
        staged = target / (wheels[0].name + ".partial")
        shutil.copy2(wheels[0], staged)
        os.replace(staged, final)  # a killed build never leaves a half-written wheel behind
        return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip", help="the pip of the environment to install into")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--print-key", action="store_true", help="print the cache key and exit")
    args = parser.parse_args(argv)

    flags = cpu_flags()
    compiler = compiler_version()
    key = build_key(LLAMA_CPP_PYTHON_VERSION, CMAKE_ARGS, NO_AMX_FLAGS, compiler, flags)
    if args.print_key:
        print(key)
        return 0
    if not args.pip:
        parser.error("--pip is required (the pip of the environment to install into)")
    cache = (args.cache_dir or default_cache_dir()) / key
    wheels = sorted(cache.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}-*.whl"))
    if wheels:
        wheel = wheels[0]
        print(f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}: reusing {wheel} (key {key})")
    else:
        print(
            f"llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}: compiling for this CPU "
            f"({cpu_model()}; CMAKE_ARGS={CMAKE_ARGS!r}, CFLAGS={NO_AMX_FLAGS!r}); ~5 min on 2 "
            "cores",
            flush=True,
        )
        env = dict(os.environ)
        env["CMAKE_ARGS"] = CMAKE_ARGS
        env["CFLAGS"] = (env.get("CFLAGS", "") + " " + NO_AMX_FLAGS).strip()
        env["CXXFLAGS"] = (env.get("CXXFLAGS", "") + " " + NO_AMX_FLAGS).strip()
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        wheel = build_wheel(args.pip, LLAMA_CPP_PYTHON_VERSION, cache, env)
    subprocess.run(
        [args.pip, "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)], check=True
    )
    prefix = subprocess.run(
        [str(Path(args.pip).with_name("python")), "-c", "import sys; print(sys.prefix)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    record = {
        "version": LLAMA_CPP_PYTHON_VERSION,
        "key": key,
        "wheel": str(wheel),
        "cmake_args": CMAKE_ARGS,
        "cflags": NO_AMX_FLAGS,
        "compiler": compiler,
        "cpu_model": cpu_model(),
    }
    Path(prefix, BUILD_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return 0


def installed_build_record() -> dict[str, str] | None:
    """What the install step recorded about the llama-cpp-python build in this environment."""
    try:
        return json.loads(Path(sys.prefix, BUILD_RECORD).read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
