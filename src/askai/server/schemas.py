"""Request and response models of the HTTP API: the OpenAI chat-completions shapes (with
askai's extra fields, which OpenAI clients ignore) and askai's own. They make the OpenAPI schema
(``/openapi.json``, ``/docs``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    # a string, or OpenAI's list of content parts ({"type": "text", "text": ...})
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat-completions request. The last message is the question; earlier user and
    assistant turns are the chat history (a follow-up is rewritten to stand alone). Sampling
    fields (temperature, max_tokens, ...) are accepted and ignored: askai's settings decide."""

    model_config = ConfigDict(extra="allow")

    model: str = Field("askai", description="any name; GET /v1/models lists askai's")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(None, description="askai: chunks to retrieve (default: setting)")
    sources_footer: bool | None = Field(
        None,
        description="askai: append a 'Sources' list to the answer text (default: setting "
        "server.sources_footer)",
    )


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str
    top_k: int | None = None
    history: list[tuple[str, str]] = Field(
        default_factory=list, description="earlier (question, answer) turns of the chat"
    )


class CitationOut(BaseModel):
    """A verified quote: ``quote`` is exactly ``text[start:end]`` of the document
    (GET /v1/documents/{document_key})."""

    marker: int = Field(description="the [n] the answer text uses for it")
    document: str = Field(description="the document's id (its file's absolute path)")
    document_key: str
    name: str
    title: str
    section: str
    location: str = Field(description="page, slide or sheet and row ('' when none)")
    quote: str
    start: int
    end: int
    support: float = Field(description="how well the quote supports its sentence (0..1)")
    retrieval_score: float


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    """OpenAI's chat completion, plus askai's ``citations``, ``refused`` and ``searched``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    citations: list[CitationOut]
    refused: bool = Field(description="true when the documents do not answer the question")
    searched: str = Field(description="the question as searched (after follow-up rewriting)")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "askai"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
