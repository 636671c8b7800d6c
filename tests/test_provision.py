from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from askai.errors import ModelNotFoundError
from askai.llm.provision import assemble_default_model, resolve_model_path


def _parts(tmp_path: Path) -> tuple[list[Path], str, int]:
    parts = []
    blob = b""
    for i in range(3):
        data = bytes([i]) * (1000 + i)
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        parts.append(path)
        blob += data
    return parts, hashlib.sha256(blob).hexdigest(), len(blob)


def test_assembles_once_verifies_and_reuses(tmp_path: Path) -> None:
    parts, digest, size = _parts(tmp_path)
    cache = tmp_path / "cache"
    path = assemble_default_model(cache, parts, digest, size, name="m.gguf")
    assert path.read_bytes() == b"".join(p.read_bytes() for p in parts)
    mtime = path.stat().st_mtime_ns
    again = assemble_default_model(cache, parts, digest, size, name="m.gguf")
    assert again == path and path.stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_damaged_cached_copy_is_rebuilt(tmp_path: Path) -> None:
    parts, digest, size = _parts(tmp_path)
    cache = tmp_path / "cache"
    path = assemble_default_model(cache, parts, digest, size, name="m.gguf")
    path.write_bytes(b"x" * size)  # same size, other bytes: the sidecar no longer matches
    assemble_default_model(cache, parts, digest, size, name="m.gguf")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    parts, _, size = _parts(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(ModelNotFoundError, match="sha256"):
        assemble_default_model(cache, parts, "0" * 64, size, name="m.gguf")
    assert list(cache.iterdir()) == []


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    parts, digest, size = _parts(tmp_path)
    with pytest.raises(ModelNotFoundError, match="bytes"):
        assemble_default_model(tmp_path / "c", parts, digest, size + 1, name="m.gguf")


def test_configured_model_path_must_be_a_gguf_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a file"):
        resolve_model_path(tmp_path / "missing.gguf", tmp_path)
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not gguf")
    with pytest.raises(ModelNotFoundError, match="not a GGUF"):
        resolve_model_path(fake, tmp_path)
    real = tmp_path / "ok.gguf"
    real.write_bytes(b"GGUF" + b"\0" * 16)
    assert resolve_model_path(real, tmp_path) == real
