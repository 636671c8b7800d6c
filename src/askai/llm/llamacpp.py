"""llama.cpp through llama-cpp-python: the default, fully local LLM backend."""

from __future__ import annotations

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

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int, seed: int = 0) -> None:
        from llama_cpp import Llama

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
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"llama.cpp could not load {self.model_path}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> LlamaCppLLM:
        path = resolve_model_path(settings.model_path, settings.cache_dir)
        return cls(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads, seed=settings.seed)

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
        with self._lock:
            try:
                chunks = self._llama.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_k=1 if temperature == 0 else 40,
                    stop=stop or [],
                    stream=True,
                )
                for chunk in chunks:
                    delta = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                    if delta:
                        yield delta
            except ValueError as exc:  # e.g. the prompt does not fit the context window
                raise LLMError(f"llama.cpp failed: {exc}") from exc
