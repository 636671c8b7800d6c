"""Per-passage key/value caches for llama.cpp: warm questions only process the question.

Each evidence passage's keys and values are computed once, after the shared prefix (the system
prompt and the start of the user message), at the positions that follow that prefix — as if it
were the only passage (parallel encoding, APE / EPIC). They are kept in memory and on disk (an LRU
with a size budget). At question time the prompt is assembled in the KV cache: the prefix (kept
from the last question), then for each passage its fresh marker tokens (``[2]``) and its cached
keys/values, shifted (``llama_memory_seq_add``: RoPE is re-applied to the keys) to follow the
previous passage; only the markers, uncached passages and the question are decoded.

Spliced passages do not attend to each other (each saw only the prefix). ``recompute`` > 0
re-decodes each passage's first tokens in place (EPIC), so they attend to the passages before.

The context is a low-level llama.cpp context over the loaded model's weights, with a unified KV
cache: sequence 0 holds the prompt, 1 is where a cached passage is loaded, and uncached passages
are computed together in one batch, each in a sequence of its own (2, 3, …) sharing the prefix,
before their cells are shared into 0 (``seq_cp`` across sequences needs the unified cache, which
the high-level ``Llama`` class does not set up).
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import json
import os
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from askai.answer import JudgeParts, PromptParts
from askai.errors import LLMError
from askai.llm.base import Message

MAGIC = b"AKVC1\n"
_HEADER = struct.Struct("<Q32s")  # payload length, sha256 of the payload
PROMPT, SCRATCH = 0, 1  # the prompt, and where a cached passage is loaded
PARALLEL = 8  # uncached passages computed together in one batch, in sequences 2 .. 2 + PARALLEL


@dataclass
class CacheStats:
    """What the last prompt cost: passages found in memory or on disk, and computed; tokens
    decoded (everything not spliced) and spliced."""

    memory_hits: int = 0
    disk_hits: int = 0
    computed: int = 0
    decoded_tokens: int = 0
    spliced_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# -- keys ------------------------------------------------------------------------------------------
def model_fingerprint(path: Path, memo_dir: Path) -> str:
    """The sha256 of the model file, hashed once and remembered (in ``memo_dir``) as long as the
    file's size and modification time stay the same (the default model's is read from the record
    provisioning wrote when it verified the file)."""
    from askai.llm.provision import sha256_file

    path = Path(path).resolve()
    st = path.stat()
    stamp = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:  # the default model's own record, written when it was assembled and verified
        verified = json.loads(path.with_name(path.name + ".verified.json").read_text())
        if (verified.get("size"), verified.get("mtime_ns")) == (st.st_size, st.st_mtime_ns) \
                and isinstance(verified.get("sha256"), str):
            return str(verified["sha256"])
    except (OSError, ValueError, AttributeError):
        pass
    name = hashlib.sha256(str(path).encode()).hexdigest()[:16] + ".json"
    memo = Path(memo_dir) / "models" / name
    try:
        recorded = json.loads(memo.read_text())
        if {k: recorded.get(k) for k in stamp} == stamp and isinstance(recorded.get("sha256"), str):
            return str(recorded["sha256"])
    except (OSError, ValueError):
        pass
    digest = sha256_file(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(memo, json.dumps({**stamp, "sha256": digest}).encode())
    return digest


def passage_key(model_hash: str, prefix: str, passage: str, variant: str = "") -> str:
    """The cache key of a passage's keys/values: the model file's hash, the prefix's hash and the
    passage text's hash (and ``variant``: what else changes the stored bytes, such as the
    llama.cpp version and the KV type)."""
    parts = [model_hash, hashlib.sha256(prefix.encode()).hexdigest(),
             hashlib.sha256(passage.encode()).hexdigest(), variant]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# -- storage -------------------------------------------------------------------------------------
def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers (in any process) see the old file, no file or
    the whole new one: a temporary file in the same folder, flushed, then renamed over."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # as readable as a file written the ordinary way
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class KVStore:
    """Bytes by key, in memory (LRU, ``memory_bytes``) and in a folder (LRU by access time,
    ``disk_bytes``). A file carries its length and sha256, so a truncated or damaged file (a
    crash mid-write by a process without atomic rename, a full disk) is ignored, deleted and
    recomputed, never loaded. Several processes may share the folder: writes are atomic renames,
    and a file another process evicts between listing and reading is simply a miss."""

    def __init__(self, folder: Path, *, disk_bytes: int, memory_bytes: int) -> None:
        self.folder = Path(folder)
        self.disk_bytes = disk_bytes
        self.memory_bytes = memory_bytes
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._memory_size = 0
        self._lock = threading.Lock()
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.kv"

    def get(self, key: str) -> tuple[bytes | None, str]:
        """The bytes stored under ``key`` and where they were found ("memory", "disk"), or
        ``(None, "")``."""
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
                return data, "memory"
        data = self._read(self.path(key))
        if data is None:
            return None, ""
        self._remember(key, data)
        return data, "disk"

    def contains(self, key: str) -> bool:
        """Whether ``key`` is in memory or has a file (which :meth:`get` still checks)."""
        with self._lock:
            if key in self._memory:
                return True
        return self.path(key).is_file()

    def put(self, key: str, data: bytes) -> None:
        self._remember(key, data)
        if self.disk_bytes <= 0:
            return
        payload = MAGIC + _HEADER.pack(len(data), hashlib.sha256(data).digest()) + data
        atomic_write(self.path(key), payload)
        self.evict()

    def _remember(self, key: str, data: bytes) -> None:
        if len(data) > self.memory_bytes:
            return
        with self._lock:
            old = self._memory.pop(key, None)
            self._memory_size -= len(old) if old is not None else 0
            self._memory[key] = data
            self._memory_size += len(data)
            while self._memory_size > self.memory_bytes:
                _, dropped = self._memory.popitem(last=False)
                self._memory_size -= len(dropped)

    def _read(self, path: Path) -> bytes | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        start = len(MAGIC) + _HEADER.size
        ok = raw.startswith(MAGIC) and len(raw) >= start
        if ok:
            length, digest = _HEADER.unpack_from(raw, len(MAGIC))
            data = raw[start:]
            ok = len(data) == length and hashlib.sha256(data).digest() == digest
        if not ok:  # truncated or damaged: drop it, the caller recomputes
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            return None
        try:
            os.utime(path)  # the access time the LRU goes by
        except FileNotFoundError:
            pass
        return data

    def clear(self) -> None:
        """Forget every entry, in memory and on disk."""
        with self._lock:
            self._memory.clear()
            self._memory_size = 0
        for p, _, _ in self._files():
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def disk_usage(self) -> int:
        return sum(size for _, size, _ in self._files())

    def _files(self) -> list[tuple[Path, int, int]]:
        out = []
        for p in self.folder.glob("*.kv"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            out.append((p, st.st_size, st.st_mtime_ns))
        return out

    def evict(self) -> None:
        """Delete the least recently used files until the folder is within ``disk_bytes``."""
        files = sorted(self._files(), key=lambda f: f[2])
        total = sum(size for _, size, _ in files)
        for p, size, _ in files:
            if total <= self.disk_bytes:
                break
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            total -= size


# -- the prompt --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """A piece of the prompt: ``glue`` (always decoded: a passage's marker, the question) then,
    optionally, a ``passage`` whose keys/values may come from the cache."""

    glue: list[int]
    passage: list[int] = field(default_factory=list)
    passage_text: str = ""


def segments(
    parts: PromptParts | JudgeParts, render: Callable[[list[Message]], str],
    tokenize: Callable[[str], list[int]],
) -> tuple[str, list[int], list[Segment]]:
    """The answer prompt ``parts`` (or the relevance judge's passages-first prompt) in the
    model's chat template, cut for the passage cache: the prefix (template head, system prompt,
    the user message's opening) as text and tokens, then a segment per passage (its marker, if
    any, then its text) and a last one with the question and the template's tail. Each cut is
    at a pre-token boundary, so the tokens are those of the whole prompt except where the last
    passage's end meets the question's line break."""
    sentinel = "\x00askai-user-message\x00"
    text = render([{"role": "system", "content": parts.system},
                   {"role": "user", "content": sentinel}])
    head, found, tail = text.partition(sentinel)
    if not found:
        raise LLMError("The chat template lost the user message; the passage cache cannot use it")
    prefix_text = head + parts.opening
    segs = [Segment(tokenize(marker) if marker else [], tokenize(body), body)
            for marker, body in parts.numbered()]
    segs.append(Segment(tokenize(parts.closing + tail)))
    return prefix_text, tokenize(prefix_text), segs


class PassageContext:
    """A llama.cpp context that assembles prompts from cached passage keys/values.

    ``model`` is a loaded ``llama_cpp.Llama`` (its weights, tokenizer and vocabulary are shared);
    the context itself is created here with a unified KV cache and two sequences."""

    def __init__(
        self, llama: Any, *, n_ctx: int, n_threads: int, store: KVStore, model_hash: str,
        recompute: int = 0, n_batch: int = 512,
    ) -> None:
        import llama_cpp

        self._llama = llama  # keeps the weights alive as long as this context
        self._lib = llama_cpp
        self.store = store
        self.recompute = recompute
        self.model_hash = model_hash
        self.variant = f"llama-cpp-python {llama_cpp.__version__}, kv f16"
        self.n_batch = n_batch
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = 2 + PARALLEL
        params.kv_unified = True
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        ctx = llama_cpp.llama_init_from_model(llama._model.model, params)
        if not ctx:
            raise LLMError("llama.cpp could not create the passage-cache context (out of memory?)")
        self.ctx = ctx
        self.n_ctx = n_ctx
        self.mem = llama_cpp.llama_get_memory(ctx)
        self.vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._prefix: list[int] = []
        self._prefix_text = ""
        self.n_past = 0
        self.stats = CacheStats()

    def close(self) -> None:
        if getattr(self, "ctx", None):
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self.ctx)
            self.ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass

    # -- low level ------------------------------------------------------------------------------
    def decode(self, tokens: Sequence[int], pos: int, seq: int, *, logits: bool = False) -> None:
        """Decode ``tokens`` at positions ``pos``… in sequence ``seq`` (the last token's logits
        kept when ``logits``)."""
        lib, batch = self._lib, self._batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            batch.n_tokens = len(chunk)
            for j, tok in enumerate(chunk):
                batch.token[j] = tok
                batch.pos[j] = pos + start + j
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = seq
                batch.logits[j] = False
            last = start + len(chunk) >= len(tokens)
            batch.logits[len(chunk) - 1] = logits and last
            rc = lib.llama_decode(self.ctx, batch)
            if rc != 0:
                raise LLMError(f"llama.cpp could not decode the prompt (llama_decode: {rc})")

    def decode_parallel(self, items: list[tuple[list[int], int]], pos: int) -> None:
        """Decode several token lists in one batch, each in its own sequence (the second of each
        pair) at positions ``pos``…; each list attends only to its own sequence."""
        flat = [(tok, pos + j, seq) for tokens, seq in items for j, tok in enumerate(tokens)]
        lib, batch = self._lib, self._batch
        for start in range(0, len(flat), self.n_batch):
            chunk = flat[start : start + self.n_batch]
            batch.n_tokens = len(chunk)
            for j, (tok, p, seq) in enumerate(chunk):
                batch.token[j] = tok
                batch.pos[j] = p
                batch.n_seq_id[j] = 1
                batch.seq_id[j][0] = seq
                batch.logits[j] = False
            rc = lib.llama_decode(self.ctx, batch)
            if rc != 0:
                raise LLMError(f"llama.cpp could not decode the passages (llama_decode: {rc})")

    def last_logits(self) -> Any:
        import numpy as np

        ptr = self._lib.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def _save(self, seq: int) -> bytes:
        size = self._lib.llama_state_seq_get_size(self.ctx, seq)
        buf = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_seq_get_data(self.ctx, buf, size, seq)
        if written == 0:
            raise LLMError("llama.cpp could not copy a passage's keys/values")
        return bytes(memoryview(buf)[:written])

    def _load(self, data: bytes, seq: int) -> bool:
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        return self._lib.llama_state_seq_set_data(self.ctx, buf, len(data), seq) > 0

    # -- prompts --------------------------------------------------------------------------------
    def set_prefix(self, tokens: list[int], text: str) -> None:
        """Make ``tokens`` the shared prefix of sequence 0 (decoded only when it changed)."""
        lib = self._lib
        if tokens == self._prefix:
            lib.llama_memory_seq_rm(self.mem, PROMPT, len(tokens), -1)
            for seq in range(SCRATCH, 2 + PARALLEL):
                lib.llama_memory_seq_rm(self.mem, seq, -1, -1)
            return
        lib.llama_memory_clear(self.mem, True)
        self._prefix, self._prefix_text = [], ""
        self.decode(tokens, 0, PROMPT)
        self._prefix, self._prefix_text = list(tokens), text

    def _key(self, seg: Segment) -> str:
        return passage_key(self.model_hash, self._prefix_text, seg.passage_text, self.variant)

    def _compute_missing(self, segments: list[Segment]) -> dict[int, int]:
        """Compute the passages the cache lacks (up to PARALLEL of them) in one batch, each in
        its own sequence after the shared prefix, and store them; {segment index: sequence}."""
        lib, n_prefix = self._lib, len(self._prefix)
        missing: dict[int, int] = {}
        for i, seg in enumerate(segments):
            if len(seg.passage) > self.recompute and len(missing) < PARALLEL and \
                    self._key(seg) not in {self._key(segments[j]) for j in missing} and \
                    not self.store.contains(self._key(seg)):
                missing[i] = 2 + len(missing)
        if not missing:
            return missing
        for seq in missing.values():
            lib.llama_memory_seq_cp(self.mem, PROMPT, seq, 0, n_prefix)
        self.decode_parallel([(segments[i].passage, seq) for i, seq in missing.items()], n_prefix)
        for i, seq in missing.items():
            lib.llama_memory_seq_rm(self.mem, seq, 0, n_prefix)
            self.store.put(self._key(segments[i]), self._save(seq))
        return missing

    def _passage_cells(self, seg: Segment) -> str:
        """Put the passage's keys/values, at positions right after the prefix, in the scratch
        sequence (from the cache, or computed and stored); returns where they came from."""
        lib, n_prefix = self._lib, len(self._prefix)
        key = self._key(seg)
        data, where = self.store.get(key)
        if data is not None:
            if self._load(data, SCRATCH) and lib.llama_memory_seq_pos_min(self.mem, SCRATCH) == \
                    n_prefix and lib.llama_memory_seq_pos_max(self.mem, SCRATCH) == \
                    n_prefix + len(seg.passage) - 1:
                return where
            lib.llama_memory_seq_rm(self.mem, SCRATCH, -1, -1)  # unusable: compute it again
        lib.llama_memory_seq_cp(self.mem, PROMPT, SCRATCH, 0, n_prefix)
        self.decode(seg.passage, n_prefix, SCRATCH)
        lib.llama_memory_seq_rm(self.mem, SCRATCH, 0, n_prefix)
        self.store.put(key, self._save(SCRATCH))
        return "computed"

    def prompt(self, prefix: list[int], prefix_text: str, segments: list[Segment]) -> Any:
        """Assemble prefix + segments in sequence 0; returns the last token's logits."""
        lib = self._lib
        total = len(prefix) + sum(len(s.glue) + len(s.passage) for s in segments)
        if total >= self.n_ctx:
            raise LLMError(f"The prompt has {total} tokens; the context holds {self.n_ctx}")
        stats = CacheStats()
        self.set_prefix(prefix, prefix_text)
        pos, n_prefix = len(prefix), len(prefix)
        computed = self._compute_missing(segments)
        for i, seg in enumerate(segments):
            last = i == len(segments) - 1
            head = seg.passage[: self.recompute] if seg.passage else []
            fresh = seg.glue + head
            if fresh:
                self.decode(fresh, pos, PROMPT, logits=last and not seg.passage[len(head):])
                pos += len(fresh)
                stats.decoded_tokens += len(fresh)
            rest = len(seg.passage) - len(head)
            if rest <= 0:
                continue
            seq = computed.get(i, SCRATCH)
            where = "computed" if i in computed else self._passage_cells(seg)
            if where == "memory":
                stats.memory_hits += 1
            elif where == "disk":
                stats.disk_hits += 1
            else:
                stats.computed += 1
            if where == "computed":
                stats.decoded_tokens += len(seg.passage)
            else:
                stats.spliced_tokens += rest
            if head:
                lib.llama_memory_seq_rm(self.mem, seq, n_prefix, n_prefix + len(head))
            shift = pos - (n_prefix + len(head))
            if shift:
                lib.llama_memory_seq_add(self.mem, seq, -1, -1, shift)
            lib.llama_memory_seq_cp(self.mem, seq, PROMPT, -1, -1)
            lib.llama_memory_seq_rm(self.mem, seq, -1, -1)
            pos += rest
            if last:
                raise LLMError("The prompt must end with tokens to decode (the question)")
        self.n_past = pos
        self.stats = stats
        return self.last_logits()

    def sequential(self, prefix: list[int], prefix_text: str, tokens: list[int]) -> Any:
        """The same prompt processed the ordinary way (every token after the prefix decoded,
        attending to all before it); the last token's logits. For comparisons."""
        self.set_prefix(prefix, prefix_text)
        self.decode(tokens, len(prefix), PROMPT, logits=True)
        self.n_past = len(prefix) + len(tokens)
        return self.last_logits()

    def generate(
        self, logits: Any, *, max_tokens: int, detokenize: Callable[[list[int]], bytes],
        temperature: float = 0.0, seed: int = 0, cancelled: Callable[[], bool] = lambda: False,
    ) -> Iterator[str]:
        """Text pieces of the reply, sampled from ``logits`` on (greedy at temperature 0,
        otherwise top-k 40 sampling with ``seed``), until an end-of-generation token."""
        import numpy as np

        rng = np.random.default_rng(seed)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for _ in range(max_tokens):
            if cancelled():
                return
            if temperature == 0:
                tok = int(np.argmax(logits))
            else:
                top = np.argpartition(logits, -40)[-40:]
                z = logits[top].astype(np.float64) / temperature
                p = np.exp(z - z.max())
                tok = int(rng.choice(top, p=p / p.sum()))
            if self._lib.llama_vocab_is_eog(self.vocab, tok):
                break
            text = decoder.decode(detokenize([tok]))
            if text:
                yield text
            if self.n_past + 1 >= self.n_ctx:
                break
            self.decode([tok], self.n_past, PROMPT, logits=True)
            self.n_past += 1
            logits = self.last_logits()
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail
