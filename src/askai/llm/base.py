"""The language-model seam: a small protocol and a registry of backends."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from askai.errors import ConfigError

if TYPE_CHECKING:
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


YES_WORDS, NO_WORDS = ("YES", "Yes", "yes"), ("NO", "No", "no")


def yes_share(probabilities: Iterable[tuple[str, float]]) -> float:
    """P(YES) / (P(YES) + P(NO)) from (token text, probability) pairs of the first token (white
    space and case ignored); 0.0 when the model would say neither (the judgement is not a yes)."""
    pairs = list(probabilities)
    yes = sum(p for t, p in pairs if t.strip().upper() == "YES")
    no = sum(p for t, p in pairs if t.strip().upper() == "NO")
    return yes / (yes + no) if yes + no > 0 else 0.0


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
