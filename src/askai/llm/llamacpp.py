"""llama.cpp through llama-cpp-python: the default, fully local LLM backend."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from askai.errors import LLMError
from askai.llm.base import Message
from askai.llm.provision import resolve_model_path

if TYPE_CHECKING:
    from askai.settings import LLMSettings


class LlamaCppLLM:
    """One loaded GGUF model. A lock serialises generations: a llama.cpp context is not
    thread-safe, so concurrent callers wait their turn rather than share it."""

    def __init__(
        self, model_path: Path, *, n_ctx: int, n_threads: int, seed: int = 0, draft_tokens: int = 0
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        self.model_path = Path(model_path)
        self.name = self.model_path.name
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._lock = threading.Lock()
        try:
            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=512,
                seed=seed,
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
        )

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
        tokens: queue.Queue[object] = queue.Queue()
        cancel = threading.Event()

        def work() -> None:
            try:
                with self._lock:
                    if cancel.is_set():
                        return
                    chunks = self._llama.create_chat_completion(
                        messages=messages,  # type: ignore[arg-type]
                        max_tokens=max_tokens,
                        temperature=temperature,
                        top_k=1 if temperature == 0 else 40,
                        stop=stop or [],
                        stream=True,
                    )
                    for chunk in chunks:
                        if cancel.is_set():
                            break
                        delta = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                        if delta:
                            tokens.put(delta)
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
                tokens.put(exc)
            finally:
                tokens.put(_DONE)

        threading.Thread(target=work, name="askai-llama", daemon=True).start()
        try:
            while (item := tokens.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise LLMError(f"llama.cpp failed: {item}") from item
                yield item  # type: ignore[misc]
        finally:
            cancel.set()


_DONE = object()
