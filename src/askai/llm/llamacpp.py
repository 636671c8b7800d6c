"""llama.cpp through llama-cpp-python: the default, fully local LLM backend."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askai.errors import LLMError, UnsupportedBuildError
from askai.llm.base import NO_WORDS, YES_WORDS, Message, yes_share
from askai.llm.native_build import check_build, cpu_flags
from askai.llm.provision import resolve_model_path

if TYPE_CHECKING:
    from askai.answer import JudgeParts, PromptParts
    from askai.settings import LLMSettings


class LlamaCppLLM:
    """One loaded GGUF model. A lock serialises generations: a llama.cpp context is not
    thread-safe, so concurrent callers wait their turn rather than share it. Yes/no judgements
    (:meth:`yes_probability`) run in a second context over the same memory-mapped weights, under
    the same lock (two cores are busy enough with one). With a passage cache, answers and
    judgements are assembled from cached passage keys/values in two more contexts (one each)
    over one store."""

    def __init__(
        self, model_path: Path, *, n_ctx: int, n_threads: int, seed: int = 0, draft_tokens: int = 0,
        passage_cache: PassageCacheConfig | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.name = self.model_path.name
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._lock = threading.Lock()
        self._formatter: Any = None
        self._seed = seed
        self._llama = self._load(n_ctx, draft_tokens)
        # yes/no judgements get their own context over the same (memory-mapped) weights, so each
        # context keeps its own fixed system prompt cached
        self._judge: Any = None
        # answers assembled from cached passage keys/values (kvcache), when configured
        self.passage_cache = passage_cache
        self._kv: Any = None
        self._judge_kv: Any = None  # the relevance judge's, over the same store
        self._kv_store: Any = None
        self._model_hash = ""

    def _load(self, n_ctx: int, draft_tokens: int = 0) -> Any:
        from llama_cpp import Llama
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        ensure_runnable_build()
        try:
            return Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                n_batch=512,
                seed=self._seed,
                # answers quote their sources: draft the next tokens from the prompt's n-grams
                # (checking a draft needs the logits of every position: logits_all)
                draft_model=LlamaPromptLookupDecoding(num_pred_tokens=draft_tokens)
                if draft_tokens
                else None,
                logits_all=bool(draft_tokens),
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"llama.cpp could not load {self.model_path}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> LlamaCppLLM:
        path = resolve_model_path(settings.model_path, settings.cache_dir)
        return cls(
            path, n_ctx=settings.n_ctx, n_threads=settings.n_threads, seed=settings.seed,
            draft_tokens=settings.draft_tokens,
            passage_cache=PassageCacheConfig.from_settings(settings)
            if settings.passage_cache else None,
        )

    def _render(self, messages: list[Message]) -> str:
        """``messages`` in the model's own chat template (as create_chat_completion renders it),
        ready for the assistant's reply."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama = self._llama
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise LLMError(f"{self.name} has no chat template in its metadata")
            eos, bos = llama.token_eos(), llama.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            )
        return str(self._formatter(messages=messages).prompt)  # type: ignore[arg-type]

    def _tokenize(self, text: str) -> list[int]:
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _chat_prompt(self, messages: list[Message]) -> list[int]:
        """``messages`` in the model's chat template, as tokens."""
        return self._tokenize(self._render(messages))

    def yes_probability(self, messages: list[Message]) -> float:
        """P(YES) / (P(YES) + P(NO)) for the reply's first token, from the full next-token
        distribution. Runs in a second context over the same weights (loaded on first use), whose
        cached prefix (the judge's system prompt) is reused as llama.cpp's generation does."""
        import llama_cpp
        import numpy as np

        tokens = self._chat_prompt(messages)
        with self._lock:
            if self._judge is None:
                self._judge = self._load(min(self.n_ctx, 2048))
            llama = self._judge
            if len(tokens) >= llama.n_ctx():
                raise LLMError(
                    f"The yes/no prompt has {len(tokens)} tokens; the judge context holds "
                    f"{llama.n_ctx()}"
                )
            cached = 0
            for a, b in zip(llama.input_ids[: llama.n_tokens], tokens[:-1], strict=False):
                if a != b:
                    break
                cached += 1
            llama.n_tokens = cached
            try:
                llama.eval(tokens[cached:])
            except RuntimeError as exc:
                llama.reset()
                raise LLMError(f"llama.cpp failed: {exc}") from exc
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1), shape=(llama.n_vocab(),)
            ).astype(np.float64)
        return self._yes_share_of(logits)

    def yes_probability_passages(self, parts: JudgeParts) -> float:
        """:meth:`yes_probability` of the relevance judge's passages-first prompt ``parts``.
        With a passage cache (``llm.passage_cache``) the prompt is assembled from cached passage
        keys/values in a judge context of its own (the judge's system prompt and ``TEXT:`` are
        its prefix, so its entries never share a key with the answer prompt's): only the
        question and uncached passages are processed. Without one, ``parts.messages()`` is
        judged as a whole by :meth:`yes_probability`."""
        import numpy as np

        from askai.llm.kvcache import segments

        if self.passage_cache is None:
            return self.yes_probability(parts.messages())
        prefix_text, prefix, segs = segments(parts, self._render, self._tokenize)
        with self._lock:
            logits = self.judge_passage_context().prompt(prefix, prefix_text, segs)
        return self._yes_share_of(np.asarray(logits, dtype=np.float64))

    def _yes_share_of(self, logits: Any) -> float:
        """P(YES) / (P(YES) + P(NO)) from the next-token logits (float64)."""
        import numpy as np

        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return yes_share((w, float(probs[i])) for i, w in self._answer_tokens().items())

    def _answer_tokens(self) -> dict[int, str]:
        """The first token of each spelling of YES and NO (each token once)."""
        return {
            self._llama.tokenize(w.encode("utf-8"), add_bos=False, special=False)[0]: w
            for w in YES_WORDS + NO_WORDS
        }

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Tokens as they are generated. Generation runs in a worker thread that holds the model's
        lock; when the consumer stops early (closes the generator) the worker stops at the next
        token, and a consumer that simply abandons the stream costs at most ``max_tokens``."""

        def produce(cancelled: Callable[[], bool]) -> Iterator[str]:
            chunks = self._llama.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                top_k=1 if temperature == 0 else 40,
                stop=stop or [],
                stream=True,
            )
            for chunk in chunks:
                if cancelled():
                    break
                delta = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if delta:
                    yield delta

        return self._threaded(produce)

    def stream_passages(
        self,
        parts: PromptParts,
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Like :meth:`stream` for the answer prompt ``parts``, assembled from cached passage
        keys/values (:mod:`askai.llm.kvcache`): only the markers, the question and uncached
        passages are processed. Needs ``passage_cache``."""
        from askai.llm.kvcache import segments

        if self.passage_cache is None:
            raise LLMError("This model was loaded without a passage cache (llm.passage_cache)")
        prefix_text, prefix, segs = segments(parts, self._render, self._tokenize)

        def produce(cancelled: Callable[[], bool]) -> Iterator[str]:
            kv = self.passage_context()
            logits = kv.prompt(prefix, prefix_text, segs)
            yield from with_stops(kv.generate(
                logits, max_tokens=max_tokens, temperature=temperature, seed=self._seed,
                detokenize=self._llama.detokenize, cancelled=cancelled,
            ), stop or [])

        return self._threaded(produce)

    def passage_context(self) -> Any:
        """The passage-cache context of answers (created on first use; call with the lock
        held)."""
        if self._kv is None:
            self._kv = self._new_passage_context(self.n_ctx)
        return self._kv

    def judge_passage_context(self) -> Any:
        """The passage-cache context of the relevance judge, as large as the judge's plain
        context (created on first use; call with the lock held). It shares the store with
        :meth:`passage_context` but keeps its own prefix (the judge's system prompt) decoded."""
        if self._judge_kv is None:
            self._judge_kv = self._new_passage_context(min(self.n_ctx, 2048))
        return self._judge_kv

    def _new_passage_context(self, n_ctx: int) -> Any:
        from askai.llm.kvcache import KVStore, PassageContext, model_fingerprint

        config = self.passage_cache
        if config is None:
            raise LLMError("This model was loaded without a passage cache (llm.passage_cache)")
        if self._kv_store is None:
            self._kv_store = KVStore(config.folder, disk_bytes=int(config.disk_mb * 1e6),
                                     memory_bytes=int(config.memory_mb * 1e6))
            self._model_hash = model_fingerprint(self.model_path, config.folder)
        return PassageContext(
            self._llama, n_ctx=n_ctx, n_threads=self.n_threads, store=self._kv_store,
            model_hash=self._model_hash, recompute=config.recompute,
        )

    def _threaded(self, produce: Callable[[Callable[[], bool]], Iterator[str]]) -> Iterator[str]:
        """The pieces ``produce`` yields, generated in a worker thread that holds the model's
        lock; when the consumer stops early (closes the generator) the worker stops at the next
        piece, and a consumer that simply abandons the stream costs at most one generation."""
        tokens: queue.Queue[object] = queue.Queue()
        cancel = threading.Event()

        def work() -> None:
            try:
                with self._lock:
                    if cancel.is_set():
                        return
                    for piece in produce(cancel.is_set):
                        if cancel.is_set():
                            break
                        tokens.put(piece)
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
                tokens.put(exc)
            finally:
                tokens.put(_DONE)

        threading.Thread(target=work, name="askai-llama", daemon=True).start()
        try:
            while (item := tokens.get()) is not _DONE:
                if isinstance(item, LLMError):
                    raise item
                if isinstance(item, Exception):
                    raise LLMError(f"llama.cpp failed: {item}") from item
                yield item  # type: ignore[misc]
        finally:
            cancel.set()


@dataclass(frozen=True)
class PassageCacheConfig:
    """Where and how much the passage KV cache keeps (from the ``llm.passage_cache*`` settings)."""

    folder: Path
    disk_mb: float
    memory_mb: float
    recompute: int = 0

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> PassageCacheConfig:
        return cls(Path(settings.passage_cache_dir).expanduser(), settings.passage_cache_mb,
                   settings.passage_cache_memory_mb, settings.passage_recompute)


def with_stops(pieces: Iterator[str], stops: list[str]) -> Iterator[str]:
    """``pieces`` up to (not including) the first stop string, holding back only as much text as
    could be the start of one."""
    if not stops:
        yield from pieces
        return
    hold = max(len(s) for s in stops) - 1
    buffer = ""
    for piece in pieces:
        buffer += piece
        cut = min((i for i in (buffer.find(s) for s in stops) if i >= 0), default=-1)
        if cut >= 0:
            if buffer[:cut]:
                yield buffer[:cut]
            return
        if len(buffer) > hold:
            yield buffer[: len(buffer) - hold]
            buffer = buffer[len(buffer) - hold :]
    if buffer:
        yield buffer


_DONE = object()


def system_info() -> str:
    """llama.cpp's own account of how it was built (``"CPU : SSE3 = 1 | AVX2 = 1 | ..."``)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)


def ensure_runnable_build() -> None:
    """Refuse, in one line naming the fix, a llama.cpp build that would crash on this CPU (AMX
    kernels, or instructions the CPU lacks) before it loads any weights."""
    check = check_build(system_info(), cpu_flags())
    if not check.ok:
        raise UnsupportedBuildError(check.problem())
