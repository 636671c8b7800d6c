"""askai as an MCP server (the official ``mcp`` SDK): tools ``ask`` (a verified answer with its
citations as structured content), ``search`` (the passages the model would see; no model) and
``list_documents``; every indexed document is a resource (``askai://documents/<key>``). Over
stdio (the client starts ``askai mcp``) or streamable HTTP (``askai mcp --transport http``, at
``/mcp``, with the HTTP API's token rule)."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, Field

from askai.engine import Engine
from askai.errors import AskaiError
from askai.server import runner
from askai.server.schemas import CitationOut
from askai.server.shapes import (
    citation_json,
    document_key,
    documents_json,
    find_document,
    passage_json,
)
from askai.server.slot import ModelSlot

INSTRUCTIONS = (
    "askai answers questions from the user's indexed documents. Call `ask` for an answer whose "
    "every sentence is checked against the quotes it cites ([n] markers match `citations`); when "
    "`refused` is true the documents do not say. Call `search` for the raw passages, "
    "`list_documents` for what is indexed; read a document as a resource."
)


class AskResult(BaseModel):
    text: str = Field(description="the verified answer with [n] markers")
    refused: bool = Field(description="true when the documents do not answer the question")
    searched: str = Field(description="the question as searched (after follow-up rewriting)")
    citations: list[CitationOut]


class PassageOut(BaseModel):
    document: str
    document_key: str
    name: str
    title: str
    section: str
    location: str
    text: str = Field(description="exactly the document's text[start:end]")
    start: int
    end: int
    score: float


class SearchResult(BaseModel):
    passages: list[PassageOut]


class DocumentOut(BaseModel):
    key: str = Field(description="names the document: resource askai://documents/<key>")
    id: str
    name: str
    title: str
    chunks: int
    ingested_at: str
    sha256: str


class DocumentList(BaseModel):
    documents: list[DocumentOut]


def build_mcp(engine: Engine) -> Any:
    """The MCP server over ``engine``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ToolError
    from mcp_types import Resource

    slot = ModelSlot(engine.settings.server.queue_size, engine.settings.server.retry_after_s)

    class AskaiMCP(MCPServer):
        async def list_resources(self) -> list[Resource]:  # the documents indexed now
            import anyio.to_thread

            listed = await anyio.to_thread.run_sync(lambda: documents_json(engine.documents()))
            return [*await super().list_resources(), *(
                Resource(uri=f"askai://documents/{d['key']}", name=d["name"],
                         title=d["title"] or d["name"], description=d["id"],
                         mime_type="text/plain")
                for d in listed
            )]

    server = AskaiMCP("askai", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool(title="Ask the documents")
    async def ask(question: str, top_k: int | None = None) -> AskResult:
        """Answer a question from the indexed documents. The answer's [n] markers point at
        `citations`: verified quotes, each exactly the document text at [start, end)."""
        try:
            stream = engine.stream(question, top_k=top_k)
            async with slot.admit():
                answer = await runner.answer(stream)
        except AskaiError as exc:
            raise ToolError(str(exc)) from exc
        assert answer is not None
        return AskResult(text=answer.text, refused=answer.refused, searched=answer.searched,
                         citations=[citation_json(c) for c in answer.citations])  # type: ignore[misc]

    @server.tool(title="Search the documents")
    def search(question: str, top_k: int | None = None) -> SearchResult:
        """The passages retrieved for a question, best first (no model: fast)."""
        try:
            passages = engine.retrieve(question, top_k)
        except AskaiError as exc:
            raise ToolError(str(exc)) from exc
        return SearchResult(passages=[passage_json(p) for p in passages])  # type: ignore[misc]

    @server.tool(title="List the documents")
    def list_documents() -> DocumentList:
        """The indexed documents; each is also a resource askai://documents/<key>."""
        try:
            return DocumentList(documents=documents_json(engine.documents()))  # type: ignore[arg-type]
        except AskaiError as exc:
            raise ToolError(str(exc)) from exc

    @server.resource("askai://documents/{key}", name="document", mime_type="text/plain",
                     description="an indexed document's text (citation offsets index into it)")
    def document(key: str) -> str:
        try:
            record = engine.store.get_document(find_document(engine.documents(), key).doc_id)
        except AskaiError as exc:
            raise ResourceError(str(exc)) from exc
        if record is None or document_key(record.doc_id) != key:
            raise ResourceError(f"No document with key {key!r}; list_documents names them")
        return record.text

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Any) -> Any:  # streamable HTTP only; no token needed
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok"})

    return server


class BearerGuard:
    """ASGI: every request but ``/healthz`` needs ``Authorization: Bearer <token>`` (401
    otherwise)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/healthz":
            header = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, given = header.partition(b" ")
            if scheme.lower() != b"bearer" or not secrets.compare_digest(given.strip(), self.token):
                from starlette.responses import JSONResponse

                response = JSONResponse(
                    {"error": "Missing or wrong bearer token: send 'Authorization: Bearer "
                              "<token>' with the token set in server.token (ASKAI_SERVER__TOKEN)"},
                    401, headers={"WWW-Authenticate": "Bearer"},
                )
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def run(engine: Engine, *, transport: str = "stdio", host: str | None = None,
        port: int | None = None) -> None:
    """Serve until the client (stdio) or an interrupt (http) ends it."""
    server = build_mcp(engine)
    if transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    from askai.access import require_token

    config = engine.settings.server
    host = host or config.host
    token = require_token(host, config.token, section="server")
    app: Any = server.streamable_http_app(host=host)
    if token is not None:
        app = BearerGuard(app, token.get_secret_value())
    uvicorn.run(app, host=host, port=port or config.mcp_port, log_level="info")
