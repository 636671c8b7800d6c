"""The passage KV cache (askai.llm.kvcache): its store (checked files, LRU budgets, keys, several
processes) and, with the real model (slow), that spliced keys/values give what sequential
processing gives."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from askai.answer import build_messages, prompt_parts
from askai.errors import ConfigError
from askai.llm.kvcache import (
    PROMPT,
    KVStore,
    PassageContext,
    Segment,
    model_fingerprint,
    passage_key,
    segments,
)
from askai.llm.llamacpp import LlamaCppLLM, PassageCacheConfig, with_stops
from askai.types import Passage

from .conftest import ScriptedLLM, make_settings


# -- the store ------------------------------------------------------------------------------------
def test_a_truncated_file_is_ignored_deleted_and_recomputed(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    KVStore(tmp_path, disk_bytes=10**7, memory_bytes=10**7).put("k", data)
    path = tmp_path / "k.kv"
    full = path.read_bytes()
    path.write_bytes(full[: len(full) - 1000])  # a crash mid-write (no atomic rename)
    fresh = KVStore(tmp_path, disk_bytes=10**7, memory_bytes=10**7)  # nothing in memory
    assert fresh.get("k") == (None, "")
    assert not path.exists()
    fresh.put("k", data)
    assert KVStore(tmp_path, disk_bytes=10**7, memory_bytes=10**7).get("k") == (data, "disk")


def test_a_damaged_byte_is_not_loaded(tmp_path: Path) -> None:
    KVStore(tmp_path, disk_bytes=10**7, memory_bytes=10**7).put("k", b"x" * 4096)
    path = tmp_path / "k.kv"
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert KVStore(tmp_path, disk_bytes=10**7, memory_bytes=10**7).get("k") == (None, "")


def test_disk_lru_keeps_the_budget_and_the_recently_read(tmp_path: Path) -> None:
    size = 10_000
    store = KVStore(tmp_path, disk_bytes=3 * (size + 100), memory_bytes=0)
    for i in range(3):
        store.put(f"k{i}", bytes([i]) * size)
        past = time.time() - 100 + i
        os.utime(store.path(f"k{i}"), (past, past))
    assert store.get("k0")[1] == "disk"  # read: now the most recent
    store.put("k3", b"3" * size)
    assert store.disk_usage() <= store.disk_bytes
    assert not store.path("k1").exists()  # the least recently used went
    assert store.path("k0").exists() and store.path("k3").exists()


def test_memory_lru_keeps_its_budget(tmp_path: Path) -> None:
    store = KVStore(tmp_path, disk_bytes=0, memory_bytes=2500)
    for i in range(4):
        store.put(f"k{i}", b"x" * 1000)
    assert store.get("k0") == (None, "") and store.get("k1") == (None, "")
    assert store.get("k3")[1] == "memory"
    assert not list(tmp_path.glob("*.kv"))  # disk budget 0: memory only


def test_the_key_changes_with_the_model_the_prefix_and_the_passage(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"a" * 1000)
    first = model_fingerprint(model, tmp_path)
    assert model_fingerprint(model, tmp_path) == first
    model.write_bytes(b"GGUF" + b"b" * 1000)  # same size, new contents (and mtime)
    os.utime(model, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    second = model_fingerprint(model, tmp_path)
    assert second != first
    keys = {
        passage_key(first, "prefix", "passage"),
        passage_key(second, "prefix", "passage"),
        passage_key(first, "prefix 2", "passage"),
        passage_key(first, "prefix", "passage 2"),
        passage_key(first, "prefix", "passage", "kv q8_0"),
    }
    assert len(keys) == 5


def _writer(folder: str, key: str, seed: int, rounds: int) -> None:
    store = KVStore(Path(folder), disk_bytes=10**8, memory_bytes=0)
    for i in range(rounds):
        store.put(key, bytes([(seed + i) % 256]) * 300_000)


def test_processes_writing_one_key_never_expose_a_partial_file(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), "k", s, 40)) for s in (0, 100)]
    for w in writers:
        w.start()
    reader = KVStore(tmp_path, disk_bytes=10**8, memory_bytes=0)
    seen = 0
    while any(w.is_alive() for w in writers):
        data, _ = reader.get("k")
        if data is not None:
            assert len(data) == 300_000 and len(set(data)) == 1
            seen += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert reader.get("k")[0] is not None
    assert not list(tmp_path.glob("*.tmp"))
    assert seen > 0


# -- prompt pieces ---------------------------------------------------------------------------------
PASSAGES = [
    Passage("a.md", "A", "The Harbour Bridge opened in 1932 after eight years of work.", 0, 60,
            0.5, section="Sydney > History"),
    Passage("b.md", "B", "Its arch spans 503 metres and carries eight lanes.", 0, 52, 0.4),
]


def test_prompt_parts_keep_the_answer_prompt() -> None:
    user = build_messages("How long is the arch?", PASSAGES)[1]["content"]
    assert user == (
        "Sources:\n[1] (Sydney > History) The Harbour Bridge opened in 1932 after eight years of "
        "work.\n[2] Its arch spans 503 metres and carries eight lanes.\n\nQuestion: How long is "
        "the arch?"
    )
    assert prompt_parts("How long is the arch?", PASSAGES).user() == user


def test_stop_strings_end_the_stream() -> None:
    assert "".join(with_stops(iter(["The ans", "wer\n\nQues", "tion: more"]), ["\n\n"])) == \
        "The answer"
    assert "".join(with_stops(iter(["a", "b", "c"]), ["x"])) == "abc"


def test_the_passage_cache_needs_a_backend_that_has_one(
    tmp_path: Path, embedder: object, docs: Path
) -> None:
    from askai.engine import Engine

    settings = make_settings(tmp_path, llm={"passage_cache": True})
    engine = Engine(settings, embedder=embedder, llm=ScriptedLLM("The bridge [1]."))  # type: ignore[arg-type]
    engine.ingest([docs], progress=False)
    with pytest.raises(ConfigError, match="llama-cpp backend"):
        engine.ask("What does the document say?")


# -- with the real model -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> LlamaCppLLM:
    from askai.llm.provision import resolve_model_path
    from askai.settings import LLMSettings

    folder = tmp_path_factory.mktemp("kv")
    defaults = LLMSettings()
    return LlamaCppLLM(
        resolve_model_path(None, defaults.cache_dir), n_ctx=1024, n_threads=defaults.n_threads,
        passage_cache=PassageCacheConfig(folder, disk_mb=100, memory_mb=100),
    )


PREFIX = "<|im_start|>system\nAnswer from the sources.<|im_end|>\n<|im_start|>user\nSources:\n"


def _context(llm: LlamaCppLLM, folder: Path) -> PassageContext:
    store = KVStore(folder, disk_bytes=10**8, memory_bytes=10**8)
    return PassageContext(llm._llama, n_ctx=512, n_threads=llm.n_threads, store=store,
                          model_hash="test")


@pytest.mark.slow
def test_a_spliced_passage_gives_the_logits_of_sequential_processing(
    llm: LlamaCppLLM, tmp_path: Path
) -> None:
    tok = llm._tokenize
    body = " The Harbour Bridge opened in 1932 after eight years of work.\n"
    tail = "\nQuestion: When did it open?<|im_end|>\n<|im_start|>assistant\n"
    kv = _context(llm, tmp_path)
    prefix = tok(PREFIX)
    # sequential: the passage, then the question, decoded after the prefix
    kv.set_prefix(prefix, PREFIX)
    kv.decode(tok(body), len(prefix), PROMPT)
    kv.decode(tok(tail), len(prefix) + len(tok(body)), PROMPT, logits=True)
    sequential = kv.last_logits()
    one_batch = kv.sequential(prefix, PREFIX, tok(body) + tok(tail))
    segs = [Segment([], tok(body), body), Segment(tok(tail))]
    cold = kv.prompt(prefix, PREFIX, segs)
    assert kv.stats.computed == 1
    warm = kv.prompt(prefix, PREFIX, segs)
    assert kv.stats.memory_hits == 1 and kv.stats.spliced_tokens == len(tok(body))
    kv.close()
    from_disk = _context(llm, tmp_path)  # a new process's memory: the file on disk
    disk = from_disk.prompt(prefix, PREFIX, segs)
    assert from_disk.stats.disk_hits == 1
    from_disk.close()
    for logits in (cold, warm, disk):
        np.testing.assert_allclose(logits, sequential, atol=1e-3)
    assert int(np.argmax(warm)) == int(np.argmax(one_batch))


@pytest.mark.slow
def test_shifted_keys_keep_relative_positions(llm: LlamaCppLLM, tmp_path: Path) -> None:
    """The splice moves passages with seq_add, which re-rotates the keys (RoPE): shifting the
    whole context by 40 positions leaves the next token's logits as they were (within float
    noise)."""
    tok = llm._tokenize
    kv = _context(llm, tmp_path)
    lib = kv._lib
    text = tok(" The arch spans 503 metres.\nQuestion: How long is the arch?")
    n = len(tok(PREFIX))
    kv.set_prefix(tok(PREFIX), PREFIX)
    kv.decode(text[:-1], n, PROMPT)
    kv.decode(text[-1:], n + len(text) - 1, PROMPT, logits=True)
    plain = kv.last_logits()
    kv.set_prefix(tok(PREFIX), PREFIX)
    kv.decode(text[:-1], n, PROMPT)
    lib.llama_memory_seq_add(kv.mem, PROMPT, -1, -1, 40)
    kv.decode(text[-1:], n + len(text) - 1 + 40, PROMPT, logits=True)
    shifted = kv.last_logits()
    kv.close()
    # float noise: f16 keys rotated twice (measured: max 0.38, mean 0.057); decoding the same
    # tokens in two batches instead of one already moves single logits by up to ~0.5 here
    assert list(np.argsort(shifted)[-5:]) == list(np.argsort(plain)[-5:])
    np.testing.assert_allclose(shifted, plain, atol=0.6)
    assert float(np.mean(np.abs(shifted - plain))) < 0.1


@pytest.mark.slow
def test_answers_from_spliced_passages_cold_then_warm(llm: LlamaCppLLM) -> None:
    parts = prompt_parts("How long is the arch of the bridge?", PASSAGES)
    cold = "".join(llm.stream_passages(parts, max_tokens=24))
    stats = llm.passage_context().stats
    assert stats.computed == 2 and stats.spliced_tokens == 0
    warm = "".join(llm.stream_passages(parts, max_tokens=24))
    stats = llm.passage_context().stats
    assert stats.memory_hits == 2 and stats.computed == 0
    assert stats.decoded_tokens < stats.spliced_tokens + 40
    # both answer from the passage; the texts need not be equal: on an AVX-512 CPU the answers
    # parted at a near-tie ("The arch of the bridge spans …" / "The arch spans …"), the cached
    # entry's logits agreeing with a fresh computation to 1e-3 (the test above bounds that)
    assert "503" in cold and "503" in warm
    prefix_text, _, segs = segments(parts, llm._render, llm._tokenize)
    whole = llm._tokenize(llm._render(parts.messages()))
    pieces = llm._tokenize(prefix_text) + [t for s in segs for t in s.glue + s.passage]
    assert len(pieces) - len(whole) in (0, 1)  # the last passage's line break, at most


def test_the_fingerprint_of_a_verified_model_is_its_recorded_hash(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"a" * 1000)
    st = model.stat()
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": "f" * 64}
    (tmp_path / "model.gguf.verified.json").write_text(json.dumps(record))
    assert model_fingerprint(model, tmp_path / "memo") == "f" * 64
    model.write_bytes(b"GGUF" + b"b" * 1001)  # changed since it was verified: hashed again
    assert model_fingerprint(model, tmp_path / "memo") != "f" * 64
