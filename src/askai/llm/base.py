"""The language-model seam: a small protocol and a registry of backends."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from askai.errors import ConfigError

if TYPE_CHECKING:
    from askai.answer import JudgeParts
    from askai.settings import LLMSettings

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@runtime_checkable
class LLM(Protocol):
    """Streams a chat completion. Implementations must be safe to call from several threads."""

    name: str  # identifies the model (e.g. the GGUF file), for reports and caches

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]: ...

    def yes_probability(self, messages: list[Message]) -> float:
        """P(YES) / (P(YES) + P(NO)) for the first token of the reply to ``messages``: a yes/no
        judgement with a confidence, for thresholds rather than a greedy word."""
        ...

    def yes_probability_passages(self, parts: JudgeParts) -> float:
        """:meth:`yes_probability` of the relevance judge's passages-first prompt (the engine's
        judge when ``llm.passage_cache`` is on). A backend with a passage cache (llama-cpp)
        splices the cited passages' cached keys/values and processes only the question; one
        without (openai) sends ``parts.messages()``, the same prompt as plain text."""
        ...


YES_WORDS, NO_WORDS = ("YES", "Yes", "yes"), ("NO", "No", "no")


def yes_share(probabilities: Iterable[tuple[str, float]]) -> float:
    """P(YES) / (P(YES) + P(NO)) from (token text, probability) pairs of the first token (white
    space and case ignored); 0.0 when the model would say neither (the judgement is not a yes)."""
    pairs = list(probabilities)
    yes = sum(p for t, p in pairs if t.strip().upper() == "YES")
    no = sum(p for t, p in pairs if t.strip().upper() == "NO")
    return yes / (yes + no) if yes + no > 0 else 0.0


# Tokens a chat template adds around each message (Qwen's ChatML, "<|im_start|>role\n" …
# "<|im_end|>\n", adds 5), with room for templates that add more; the reply's header counts as one.
MESSAGE_OVERHEAD = 8


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate of a text's tokens for backends whose tokenizer askai cannot
    reach (an OpenAI-compatible server): one token per 3 bytes of UTF-8, rounded up. Byte-level BPE
    tokenizers of current models average about 4 bytes a token on English prose and 3-4 on
    Chinese (3 bytes a character), so this overcounts most text a little rather than undercount."""
    return -(-len(text.encode("utf-8")) // 3)


def token_counter(llm: object) -> Callable[[str], int]:
    """The model's own token count when its backend has a tokenizer (``count_tokens``, as the
    llama.cpp backend does), else :func:`estimate_tokens`."""
    count = getattr(llm, "count_tokens", None)
    return count if callable(count) else estimate_tokens


def prompt_tokens(messages: list[Message], count: Callable[[str], int]) -> int:
    """Tokens of a chat prompt: each message's content plus the template's markers."""
    return sum(count(m["content"]) + MESSAGE_OVERHEAD for m in messages) + MESSAGE_OVERHEAD


def complete(llm: LLM, messages: list[Message], **kwargs: object) -> str:
    """The whole completion as one string."""
    return "".join(llm.stream(messages, **kwargs))  # type: ignore[arg-type]


def _llama_cpp(settings: LLMSettings) -> LLM:
    from askai.llm.llamacpp import LlamaCppLLM

    return LlamaCppLLM.from_settings(settings)


def _openai(settings: LLMSettings) -> LLM:
    from askai.llm.openai_compat import OpenAICompatLLM

    return OpenAICompatLLM.from_settings(settings)


LLM_BACKENDS: dict[str, Callable[[LLMSettings], LLM]] = {"llama-cpp": _llama_cpp, "openai": _openai}


def build_llm(settings: LLMSettings) -> LLM:
    try:
        factory = LLM_BACKENDS[settings.backend]
    except KeyError:
        raise ConfigError(
            f"Unknown LLM backend {settings.backend!r}; valid: {', '.join(LLM_BACKENDS)}"
        ) from None
    return factory(settings)
