"""An OpenAI-compatible chat-completions server as the LLM (vLLM, llama.cpp's server, Ollama)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from askai.errors import LLMError
from askai.llm.base import Message, yes_share

if TYPE_CHECKING:
    from askai.answer import JudgeParts
    from askai.settings import LLMSettings


class OpenAICompatLLM:
    """Streams ``POST {base_url}/chat/completions`` with server-sent events. The server does its
    own scheduling, so calls are not serialised here."""

    def __init__(self, base_url: str, model: str, *, api_key: str = "", timeout_s: float = 120.0):
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model or self.base_url
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> OpenAICompatLLM:
        return cls(settings.base_url, settings.model,
                   api_key=settings.api_key.get_secret_value(), timeout_s=settings.timeout_s)

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        import httpx

        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": temperature, "stream": True}
        if temperature == 0:
            body["top_k"] = 1  # greedy on servers that honour it (llama.cpp, vLLM)
        if stop:
            body["stop"] = stop
        url = f"{self.base_url}/chat/completions"
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code != 200:
                    detail = response.read().decode("utf-8", "replace")[:300]
                    raise LLMError(
                        f"The LLM server at {url} answered HTTP {response.status_code}: {detail}"
                    )
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    choice = (json.loads(data).get("choices") or [{}])[0]
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        yield delta
        except httpx.HTTPError as exc:
            raise LLMError(
                f"Cannot reach the LLM server at {url} ({type(exc).__name__}: {exc}); start it or "
                "fix ASKAI_LLM__BASE_URL"
            ) from exc

    def yes_probability_passages(self, parts: JudgeParts) -> float:
        """The judge's passages-first prompt sent whole, as plain messages: this backend has no
        passage cache (the server may still reuse its own prompt prefix)."""
        return self.yes_probability(parts.messages())

    def yes_probability(self, messages: list[Message]) -> float:
        """P(YES) / (P(YES) + P(NO)) from the server's top log-probabilities of the first token
        (``logprobs``: vLLM, llama.cpp's server and Ollama return them)."""
        import math

        import httpx

        body = {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0,
                "logprobs": True, "top_logprobs": 20}
        url = f"{self.base_url}/chat/completions"
        try:
            response = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise LLMError(
                f"Cannot reach the LLM server at {url} ({type(exc).__name__}: {exc}); start it or "
                "fix ASKAI_LLM__BASE_URL"
            ) from exc
        if response.status_code != 200:
            raise LLMError(f"The LLM server at {url} answered HTTP {response.status_code}: "
                           f"{response.text[:300]}")
        try:
            first = response.json()["choices"][0]["logprobs"]["content"][0]
            top = first.get("top_logprobs") or [first]
            probabilities = [(t["token"], math.exp(t["logprob"])) for t in top]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise LLMError(
                f"The LLM server at {url} returned no log-probabilities; the answer relevance "
                "check needs them (set ASKAI_RETRIEVAL__MIN_RELEVANCE=0 to turn it off)"
            ) from exc
        return yes_share(probabilities)
