"""The ONNX Runtime embedder against the torch one: same model, exported once per session."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from askai.errors import ConfigError, ModelNotFoundError
from askai.index.embedder import (
    Embedder,
    SentenceTransformerEmbedder,
    build_embedder,
    default_model_dir,
)
from askai.index.onnx_embedder import OnnxEmbedder, _batches
from askai.settings import EmbedderSettings, load_settings

LONG = " ".join(
    f"Item {i}: the harbour committee reviewed budget line {i} and approved the repairs."
    for i in range(40)
)
SENTENCES = [
    "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell.",
    "Orvale Bakery is known for rye bread baked in a wood-fired oven.",
    "Glass frogs have translucent skin on their bellies.",
    "灯塔于1969年实现自动化，此后再也没有看守人。",
    "What year was the lighthouse automated?",
    "ok",
    LONG,
]
DOCS = [
    "The lighthouse was automated in 1969 and has had no keeper since then.",
    "Orvale Bakery opened in Pennick in 2011 and bakes rye bread in a wood-fired oven.",
    "Glass frogs live in the rainforests of Central and South America.",
    "To install a Python package, run pip install followed by the package name.",
    "The night train to the coast leaves the central station at eleven.",
]
QUERIES = [
    "When did the lighthouse lose its keeper?",
    "Where can I buy rye bread?",
    "Which frogs have see-through skin?",
    "How do I add a library to my Python environment?",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def scores(e: Embedder) -> np.ndarray:
    """Query x document similarities for QUERIES and DOCS."""
    return np.stack([e.embed_query(q) for q in QUERIES]) @ e.embed_documents(DOCS).T


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def onnx_fp32(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(default_model_dir(), cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def onnx_int8(onnx_cache: Path, onnx_fp32: OnnxEmbedder) -> OnnxEmbedder:
    return OnnxEmbedder(default_model_dir(), cache_dir=onnx_cache, quantize=True)


def test_fp32_vectors_match_torch(
    embedder: SentenceTransformerEmbedder, onnx_fp32: OnnxEmbedder
) -> None:
    assert isinstance(onnx_fp32, Embedder)
    assert onnx_fp32.name == embedder.name  # same vectors, so the same index accepts both
    assert onnx_fp32.dimension == embedder.dimension == 384
    assert len(onnx_fp32.tokenizer(LONG)) > 300  # so the long one really is truncated
    expected = embedder.embed_documents(SENTENCES)
    got = onnx_fp32.embed_documents(SENTENCES)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert cosines(got, expected).min() > 0.9999
    query = onnx_fp32.embed_query(SENTENCES[4])
    assert query.shape == (384,) and float(query @ expected[4]) > 0.9999


def test_edge_inputs_match_torch(
    embedder: SentenceTransformerEmbedder, onnx_fp32: OnnxEmbedder
) -> None:
    assert onnx_fp32.embed_documents([]).shape == (0, 384)
    edge = ["", "   ", "a", "  padded with spaces  "]
    assert cosines(onnx_fp32.embed_documents(edge), embedder.embed_documents(edge)).min() > 0.9999


def test_long_text_is_truncated_at_the_models_max_length(
    embedder: SentenceTransformerEmbedder, onnx_fp32: OnnxEmbedder
) -> None:
    assert onnx_fp32.max_seq_length == embedder.max_seq_length == 256
    longer = onnx_fp32.embed_documents([LONG, LONG + " And one more unrelated sentence." * 20])
    np.testing.assert_allclose(longer[0], longer[1], atol=1e-6)


def test_tokenizer_is_the_models(
    embedder: SentenceTransformerEmbedder, onnx_fp32: OnnxEmbedder
) -> None:
    for text in (SENTENCES[0], SENTENCES[3], LONG):
        assert onnx_fp32.tokenizer(text) == embedder.tokenizer(text)


def test_int8_is_close_and_ranks_alike(
    embedder: SentenceTransformerEmbedder, onnx_int8: OnnxEmbedder
) -> None:
    assert onnx_int8.name == f"{embedder.name}-int8"  # different vectors, different index
    assert onnx_int8.onnx_path.name == "model-int8.onnx"
    assert onnx_int8.onnx_path.stat().st_size < onnx_int8.fp32_path.stat().st_size / 2
    close = cosines(onnx_int8.embed_documents(SENTENCES), embedder.embed_documents(SENTENCES))
    one_word = SENTENCES.index("ok")
    assert np.delete(close, one_word).min() > 0.98
    # int8's weak spot: a one-word text is mostly [CLS]/[SEP] (measured ~0.977-0.984).
    assert close[one_word] > 0.97
    assert float(onnx_int8.embed_query("ok") @ embedder.embed_query("ok")) > 0.97
    # Activations are quantised per batch, so a text's int8 vector depends a little on its
    # batch-mates (fp32's does not, see below). A one-word text moves most (~0.96), so not here.
    alone = np.stack([onnx_int8.embed_query(s) for s in SENTENCES])
    moved = cosines(alone, onnx_int8.embed_documents(SENTENCES))
    assert np.delete(moved, one_word).min() > 0.99

    expected, got = scores(embedder), scores(onnx_int8)
    assert expected.argmax(axis=1).tolist() == [0, 1, 2, 3]  # the set is meaningful with torch
    assert got.argmax(axis=1).tolist() == [0, 1, 2, 3]
    # Every pair of documents that torch tells apart (by > 0.05) is ordered alike; int8 may
    # swap only near-ties, e.g. two unrelated documents at -0.008 and -0.013.
    for q in range(len(QUERIES)):
        for i in range(len(DOCS)):
            for j in range(len(DOCS)):
                if expected[q, i] > expected[q, j] + 0.05:
                    assert got[q, i] > got[q, j], (QUERIES[q], DOCS[i], DOCS[j])


def test_fp32_ranks_exactly_like_torch(
    embedder: SentenceTransformerEmbedder, onnx_fp32: OnnxEmbedder
) -> None:
    ranking = np.argsort(-scores(embedder), axis=1)
    assert np.argsort(-scores(onnx_fp32), axis=1).tolist() == ranking.tolist()


def test_export_is_written_once_and_reused(
    onnx_cache: Path, onnx_fp32: OnnxEmbedder, onnx_int8: OnnxEmbedder
) -> None:
    assert onnx_fp32.fp32_path == onnx_int8.fp32_path
    assert onnx_fp32.fp32_path.parent.parent == onnx_cache
    assert onnx_fp32.fp32_path.parent.name.startswith(f"{onnx_fp32.name}-")
    files = [onnx_fp32.fp32_path, onnx_int8.onnx_path]
    before = [p.stat().st_mtime_ns for p in files]
    again = OnnxEmbedder(default_model_dir(), cache_dir=onnx_cache)
    again_int8 = OnnxEmbedder(default_model_dir(), cache_dir=onnx_cache, quantize=True)
    assert [p.stat().st_mtime_ns for p in files] == before
    assert sorted(p.name for p in onnx_cache.rglob("*") if p.is_file()) == [
        "model-int8.onnx", "model.onnx"
    ]  # no temp files left behind
    np.testing.assert_array_equal(
        again.embed_documents(SENTENCES[:3]), onnx_fp32.embed_documents(SENTENCES[:3])
    )
    np.testing.assert_array_equal(
        again_int8.embed_documents(SENTENCES[:3]), onnx_int8.embed_documents(SENTENCES[:3])
    )


def test_corrupt_export_is_rebuilt(
    tmp_path: Path, onnx_cache: Path, onnx_fp32: OnnxEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / onnx_fp32.fp32_path.relative_to(onnx_cache)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx model, e.g. a disk that filled up")
    with caplog.at_level(logging.WARNING):
        rebuilt = OnnxEmbedder(default_model_dir(), cache_dir=tmp_path)
    assert rebuilt.fp32_path == target and target.stat().st_size > 1_000_000
    assert "rebuilding" in caplog.text
    np.testing.assert_allclose(
        rebuilt.embed_documents(SENTENCES), onnx_fp32.embed_documents(SENTENCES), atol=1e-6
    )


def test_corrupt_int8_is_requantised_from_the_cached_export(
    tmp_path: Path, onnx_cache: Path, onnx_fp32: OnnxEmbedder, onnx_int8: OnnxEmbedder
) -> None:
    fp32 = tmp_path / onnx_fp32.fp32_path.relative_to(onnx_cache)
    fp32.parent.mkdir(parents=True)
    shutil.copy2(onnx_fp32.fp32_path, fp32)
    fp32_mtime = fp32.stat().st_mtime_ns
    (fp32.parent / "model-int8.onnx").write_bytes(b"\x00" * 100)
    rebuilt = OnnxEmbedder(default_model_dir(), cache_dir=tmp_path, quantize=True)
    assert fp32.stat().st_mtime_ns == fp32_mtime  # the fp32 export was reused, not redone
    np.testing.assert_allclose(
        rebuilt.embed_documents(SENTENCES), onnx_int8.embed_documents(SENTENCES), atol=1e-6
    )


def test_batching_and_order_do_not_change_vectors(
    onnx_cache: Path, onnx_fp32: OnnxEmbedder
) -> None:
    reference = onnx_fp32.embed_documents(SENTENCES)
    reversed_ = onnx_fp32.embed_documents(SENTENCES[::-1])[::-1]
    small_batches = OnnxEmbedder(default_model_dir(), cache_dir=onnx_cache, batch_size=2)
    one_by_one = np.stack([onnx_fp32.embed_query(s) for s in SENTENCES])
    for other in (reversed_, small_batches.embed_documents(SENTENCES), one_by_one):
        np.testing.assert_allclose(other, reference, atol=1e-5)


def test_batches_group_similar_lengths() -> None:
    assert _batches([3, 250, 4, 10, 240, 5], batch_size=32) == [[0, 2, 5, 3], [4, 1]]
    assert _batches([7] * 5, batch_size=2) == [[0, 1], [2, 3], [4]]
    assert _batches([], batch_size=2) == []


def test_concurrent_calls_are_safe(onnx_fp32: OnnxEmbedder) -> None:
    reference = onnx_fp32.embed_documents(SENTENCES[:4])
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(onnx_fp32.embed_documents(SENTENCES[:4]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for got in results:
        np.testing.assert_allclose(got, reference, atol=1e-6)


def test_settings_select_the_backend(
    onnx_cache: Path, onnx_fp32: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = load_settings().embedder
    assert defaults.backend == "onnx" and defaults.onnx_threads == max(1, os.cpu_count() or 1)
    assert defaults.cache_dir == Path.home() / ".cache" / "askai" / "embedders"
    monkeypatch.setenv("ASKAI_EMBEDDER__BACKEND", "onnx-int8")
    assert load_settings().embedder.backend == "onnx-int8"
    monkeypatch.setenv("ASKAI_EMBEDDER__BACKEND", "tensorrt")
    with pytest.raises(ConfigError, match="embedder.backend"):
        load_settings()

    built = build_embedder(EmbedderSettings(backend="onnx", cache_dir=onnx_cache, onnx_threads=1))
    assert isinstance(built, OnnxEmbedder) and built.name == onnx_fp32.name
    built_int8 = build_embedder(EmbedderSettings(backend="onnx-int8", cache_dir=onnx_cache))
    assert isinstance(built_int8, OnnxEmbedder) and built_int8.name.endswith("-int8")
    with pytest.raises(ConfigError, match="ASKAI_EMBEDDER__DEVICE"):
        build_embedder(EmbedderSettings(backend="onnx", device="cuda", cache_dir=onnx_cache))


def test_unusable_models_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="ASKAI_EMBEDDER__MODEL"):
        OnnxEmbedder("sentence-transformers/all-MiniLM-L6-v2", cache_dir=tmp_path)

    # The same model, but pooled on the CLS token: ONNX would silently give other vectors.
    source = default_model_dir()
    copy = tmp_path / "cls-model"
    copy.mkdir()
    for item in source.iterdir():
        if item.name != "1_Pooling":
            (copy / item.name).symlink_to(item)
    (copy / "1_Pooling").mkdir()
    (copy / "1_Pooling" / "config.json").write_text(
        '{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, '
        '"pooling_mode_mean_tokens": false}'
    )
    with pytest.raises(ConfigError, match="mean pooling.*BACKEND=torch"):
        OnnxEmbedder(copy, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # refused before exporting anything


def test_a_process_with_a_cached_export_never_imports_torch(
    onnx_cache: Path, onnx_fp32: OnnxEmbedder
) -> None:
    """torch (and transformers, which imports it) cost some 400 MB in every askai process; with
    the export cached, embedding needs neither, and gives the same vectors."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from askai.index.embedder import default_model_dir\n"
        "from askai.index.onnx_embedder import OnnxEmbedder\n"
        f"e = OnnxEmbedder(default_model_dir(), cache_dir={str(onnx_cache)!r})\n"
        f"v = e.embed_documents({SENTENCES!r})\n"
        "print(json.dumps({'torch': 'torch' in sys.modules,\n"
        "                  'transformers': 'transformers' in sys.modules,\n"
        "                  'vectors': v.tolist(), 'tokens': e.tokenizer(sys.argv[1])}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, LONG], capture_output=True, text=True,
                          check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["torch"] is False and seen["transformers"] is False
    np.testing.assert_allclose(np.array(seen["vectors"]), onnx_fp32.embed_documents(SENTENCES),
                               atol=1e-6)
    assert seen["tokens"] == onnx_fp32.tokenizer(LONG)
