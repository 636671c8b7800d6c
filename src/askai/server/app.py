"""The HTTP API (FastAPI): OpenAI-compatible chat completions carrying verified citations, and
askai's own endpoints for answers and documents. Every answer comes from the one engine
(:meth:`askai.engine.Engine.stream`) through the one model slot."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from askai.engine import AnswerStream, Engine
from askai.errors import (
    AskaiError,
    ConfigError,
    IndexBusyError,
    IndexCorruptError,
    IndexNotFoundError,
    IndexReadOnlyError,
    IngestError,
    InputError,
    LLMError,
    ModelNotFoundError,
    StoreWriteError,
)
from askai.followup import Turn
from askai.server import runner
from askai.server.schemas import AskRequest, ChatCompletion, ChatMessage, ChatRequest, ModelList
from askai.server.shapes import (
    citation_json,
    document_json,
    document_key,
    documents_json,
    find_document,
    strip_footer,
    text_pieces,
    with_footer,
)
from askai.server.slot import ModelSlot, ServerBusyError, Ticket
from askai.types import Answer
from askai.uploads import delete_document, ingest_upload, safe_name, store_upload, upload_limit

STATUS: list[tuple[type[AskaiError], int]] = [  # first match wins
    (ServerBusyError, 429),
    (InputError, 400),
    (ConfigError, 400),
    (IngestError, 400),
    (IndexNotFoundError, 404),
    (IndexBusyError, 503),
    (IndexReadOnlyError, 503),
    (IndexCorruptError, 500),
    (StoreWriteError, 507),
    (ModelNotFoundError, 503),
    (LLMError, 502),
]
MULTIPART_OVERHEAD = 64_000  # bytes of multipart framing allowed on top of the upload limit
KEEPALIVE_S = 2.0  # an SSE comment at least this often while the model works
BEARER = HTTPBearer(auto_error=False, description="the token of setting server.token")


def status_of(exc: AskaiError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def error_body(message: str, kind: str, status: int) -> dict[str, Any]:
    """OpenAI's error shape, so its clients raise with askai's message."""
    return {"error": {"message": message, "type": kind, "code": status}}


def error_response(exc: AskaiError) -> JSONResponse:
    status = status_of(exc)
    headers = {}
    if isinstance(exc, ServerBusyError):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(error_body(str(exc), type(exc).__name__, status), status, headers)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is over the {limit:,} byte limit "
                              "(setting server.max_request_kb; uploads: ui.max_upload_mb)")


class BodyLimit:
    """Refuses request bodies over the limit: by Content-Length before reading, and while
    reading (a chunked body) by counting."""

    def __init__(self, app: Any, *, json_limit: int, upload_limit: int) -> None:
        self.app, self.json_limit, self.upload_limit = app, json_limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/documents"
        limit = self.upload_limit + MULTIPART_OVERHEAD if upload else self.json_limit
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            exc = BodyTooLarge(limit)
            response = JSONResponse(error_body(exc.detail, "BodyTooLarge", 413), 413)
            return await response(scope, receive, send)
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def history_of(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The question (the last message, from the user) and the earlier (question, answer) turns;
    system messages are ignored (askai has its own instructions)."""
    last = messages[-1]
    if last.role != "user":
        raise InputError(f"The last message must be the user's question, got role {last.role!r}")
    turns: list[Turn] = []
    question: str | None = None
    for m in messages[:-1]:
        if m.role == "user":
            question = content_text(m.content)
        elif m.role == "assistant" and question is not None:
            turns.append((question, strip_footer(content_text(m.content))))
            question = None
    return content_text(last.content), turns


def content_text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return " ".join(str(p.get("text", "")) for p in content if p.get("type", "text") == "text")


def build_app(engine: Engine) -> FastAPI:
    """The API over ``engine`` (settings section ``server``; see :func:`serve`)."""
    settings = engine.settings
    config = settings.server
    token = config.token.get_secret_value().encode()
    slot = ModelSlot(config.queue_size, config.retry_after_s)
    upload_dir = Path(settings.ui.upload_dir)

    def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> None:
        if not token:
            return
        given = credentials.credentials.encode() if credentials else b""
        if not secrets.compare_digest(given, token):
            raise HTTPException(
                401, "Missing or wrong bearer token: send 'Authorization: Bearer <token>' with "
                "the token set in server.token (ASKAI_SERVER__TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    app = FastAPI(
        title="askai",
        summary="Answers from your documents, with verified citations",
        description="OpenAI-compatible chat completions (answers keep their [n] markers; the "
        "citations ride in `citations`) and askai's own answer and document endpoints.",
        version="1",
    )
    guarded = [Depends(authorised)]

    @app.exception_handler(AskaiError)
    async def _askai_error(request: Request, exc: AskaiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        )
        return JSONResponse(error_body(f"Invalid request: {problems}", "InvalidRequest", 400), 400)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail), type(exc).__name__, exc.status_code), exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def answered(stream: AnswerStream, request: Request) -> Answer | None:
        """The stream's verified answer, run when the model slot is free (429 when the queue is
        full); None when the client left meanwhile (its generation stopped)."""
        ticket = slot.admit()
        try:
            async with ticket:
                return await runner.answer(stream, request.is_disconnected)
        finally:
            ticket.release()

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, Any]:
        """Up, and how many documents and questions (running + waiting) it has."""
        return {"status": "ok", "documents": len(engine.documents()), "questions": slot.admitted}

    @app.get("/v1/models", tags=["openai"], dependencies=guarded)
    def models() -> ModelList:
        """The one model name clients select (any name is accepted)."""
        return ModelList(data=[{"id": config.model_name}])  # type: ignore[list-item]

    @app.post("/v1/chat/completions", tags=["openai"], dependencies=guarded,
              response_model=ChatCompletion)
    async def chat(body: ChatRequest, request: Request) -> Any:
        """OpenAI chat completions; with ``stream: true``, server-sent events whose last chunk
        carries the citations. The text sent is the verified answer: unsupported sentences are
        removed and markers renumbered before any of it leaves, so a streamed answer arrives
        once the model has finished (SSE comments keep the connection alive meanwhile)."""
        question, history = history_of(body.messages)
        stream = engine.stream(question, top_k=body.top_k, history=history)  # validates
        footer = config.sources_footer if body.sources_footer is None else body.sources_footer
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            ticket = slot.admit()
            events = chat_events(stream, ticket, ident, created, config.model_name, footer)
            return TicketResponse(events, ticket)
        answer = await answered(stream, request)
        if answer is None:
            return Response(status_code=499)  # nobody is listening
        return completion(answer, ident, created, config.model_name, footer)

    @app.post("/v1/ask", tags=["askai"], dependencies=guarded)
    async def ask(body: AskRequest, request: Request) -> Any:
        """askai's own shape: the whole :class:`askai.Answer` as JSON (sentence checks,
        passages, timings)."""
        stream = engine.stream(body.question, top_k=body.top_k, history=body.history)
        answer = await answered(stream, request)
        if answer is None:
            return Response(status_code=499)
        return answer.to_dict()

    @app.get("/v1/documents", tags=["askai"], dependencies=guarded)
    def list_documents() -> dict[str, Any]:
        """The indexed documents; ``key`` names one in the URLs below."""
        return {"documents": documents_json(engine.documents())}

    @app.get("/v1/documents/{ref:path}", tags=["askai"], dependencies=guarded)
    def get_document(ref: str) -> dict[str, Any]:
        """One document with its text (by key, id or name): a citation's quote is
        ``text[start:end]``."""
        docs = engine.documents()
        record = engine.store.get_document(find_document(docs, ref).doc_id)
        if record is None:
            raise IndexNotFoundError(f"No document {ref!r} in the index")
        return document_json(record, find_name(docs, record.doc_id), text=True)

    @app.post("/v1/documents", tags=["askai"], dependencies=guarded, status_code=201)
    def upload(file: Annotated[list[UploadFile], File(description="files to index")]) -> Any:
        """Upload and index files (.txt .md .html .pdf ...), with the page's limits and storage
        (setting ui.upload_dir). 201 when something was indexed, 200 when all were already
        there, 400 when none could be."""
        results = [add_upload(f) for f in file]
        body = {"results": results, "documents": documents_json(engine.documents())}
        if all(r["status"] == "failed" for r in results):
            message = "; ".join(f"{r['name']}: {r['reason']}" for r in results)
            return JSONResponse({**error_body(message, "IngestError", 400), **body}, 400)
        status = 201 if any(r["status"] == "indexed" for r in results) else 200
        return JSONResponse(body, status)

    def add_upload(f: UploadFile) -> dict[str, Any]:
        name = safe_name(f.filename or "upload")
        with tempfile.TemporaryDirectory(prefix="askai-upload-") as tmp:
            source = Path(tmp) / name
            with source.open("wb") as out:
                shutil.copyfileobj(f.file, out)
            try:
                stored = store_upload(source, upload_dir, upload_limit(settings))
            except IngestError as exc:
                return {"name": name, "status": "failed", "reason": exc.reason, "key": ""}
        outcome = ingest_upload(engine, stored, upload_dir)
        key = document_key(outcome.doc_id) if outcome.doc_id else ""
        return {"name": outcome.name, "status": outcome.status, "chunks": outcome.chunks,
                "reason": outcome.reason, "key": key}

    @app.delete("/v1/documents/{ref:path}", tags=["askai"], dependencies=guarded)
    def delete(ref: str) -> dict[str, Any]:
        """Remove a document (by key, id or name) from the index, and its file if it was
        uploaded."""
        docs = engine.documents()
        record = find_document(docs, ref)
        name = find_name(docs, record.doc_id)
        delete_document(engine, record.doc_id, upload_dir)
        return {"deleted": document_json(record, name)}

    return app


def find_name(docs: list[Any], doc_id: str) -> str:
    from askai.docnames import short_names

    return short_names(d.doc_id for d in docs)[doc_id]


def completion(answer: Answer, ident: str, created: int, model: str, footer: bool) -> dict:
    return {
        "id": ident, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {
            "role": "assistant", "content": with_footer(answer) if footer else answer.text}}],
        **extras(answer),
    }


def extras(answer: Answer) -> dict[str, Any]:
    return {"citations": [citation_json(c) for c in answer.citations],
            "refused": answer.refused, "searched": answer.searched}


def chunk(ident: str, created: int, model: str, delta: dict, finish: str | None = None,
          **extra: Any) -> str:
    body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def chat_events(
    stream: Any, ticket: Ticket, ident: str, created: int, model: str, footer: bool
) -> AsyncIterator[str]:
    """The SSE stream of one chat completion: the role at once, keep-alive comments while the
    question waits and the model works, then the verified text and a last chunk with the
    citations. Cancelled (the client left): the stream closes and the model stops."""
    yield chunk(ident, created, model, {"role": "assistant", "content": ""})
    try:
        async with ticket:
            last = time.monotonic()
            async for _ in runner.tokens(stream):
                if time.monotonic() - last > KEEPALIVE_S:
                    last = time.monotonic()
                    yield ": generating\n\n"
            answer: Answer = stream.answer
    except AskaiError as exc:  # after the response began: an error event, as OpenAI sends
        body = error_body(str(exc), type(exc).__name__, status_of(exc))
        yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
        return
    for piece in text_pieces(with_footer(answer) if footer else answer.text):
        yield chunk(ident, created, model, {"content": piece})
    yield chunk(ident, created, model, {}, "stop", **extras(answer))
    yield "data: [DONE]\n\n"


class TicketResponse(StreamingResponse):
    """A streamed response that gives its queue place back however it ends, even when the
    client left before the stream began."""

    def __init__(self, events: AsyncIterator[str], ticket: Ticket) -> None:
        super().__init__(events, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.ticket = ticket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.ticket.release()


def asgi_app(engine: Engine) -> Any:
    """The API with its request size limits, as uvicorn serves it."""
    settings = engine.settings
    return BodyLimit(build_app(engine), json_limit=int(settings.server.max_request_kb * 1000),
                     upload_limit=upload_limit(settings))


def serve(engine: Engine, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the API on ``host`` (default: setting server.host, loopback) until interrupted.
    Any address but loopback needs server.token; once set, every request but /healthz needs it.
    """
    import uvicorn

    from askai.access import require_token

    config = engine.settings.server
    host = host or config.host
    require_token(host, config.token, section="server")
    uvicorn.run(asgi_app(engine), host=host, port=port or config.port, log_level="info",
                timeout_graceful_shutdown=5)


__all__ = ["asgi_app", "build_app", "serve"]
