"""The Gradio chat page. It calls the engine's streaming API; it holds no retrieval logic."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

from askai.access import require_credentials
from askai.docnames import short_names
from askai.engine import Engine
from askai.errors import AskaiError
from askai.ui.docview import document_view
from askai.ui.render import (
    CSS,
    DOCVIEW_JS,
    SOURCES_JS,
    answer_markdown,
    passages_html,
    sources_html,
    timing_text,
    unlink_markers,
)
from askai.uploads import (
    StoredUpload,
    delete_document,
    discard_gradio_copy,
    ingest_upload,
    safe_name,
    store_upload,
    upload_limit,
)

__all__ = ["build_app", "history_turns", "safe_name", "serve", "store_upload"]

ERROR_PREFIX = "⚠️ "
WAITING_SOURCES = "<p><i>Searching the documents and generating…</i></p>"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    return str(content or "")


def history_turns(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(question, answer) pairs from the chat, without error notices."""
    turns: list[tuple[str, str]] = []
    question: str | None = None
    for m in messages or []:
        text = _text(m.get("content"))
        if m.get("role") == "user":
            question = text
        elif m.get("role") == "assistant" and question is not None:
            if not text.startswith(ERROR_PREFIX):
                turns.append((question, unlink_markers(text.split("\n\n⚠️")[0].strip("*"))))
            question = None
    return turns


def build_app(engine: Engine) -> Any:
    import gradio as gr

    settings = engine.settings
    upload_dir = Path(settings.ui.upload_dir)
    max_bytes = upload_limit(settings)

    def documents_table() -> list[list[Any]]:
        docs = engine.documents()
        names = short_names(d.doc_id for d in docs)
        return [[d.title or names[d.doc_id], names[d.doc_id], d.chunks, d.ingested_at]
                for d in docs]

    def doc_choices() -> Any:
        docs = engine.documents()
        names = short_names(d.doc_id for d in docs)
        # shown by name, chosen by id (gradio_client's /delete takes the id or the name)
        return gr.update(choices=[(names[d.doc_id], d.doc_id) for d in docs], value=None)

    def respond(message: str, messages: list[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
        messages = list(messages or [])
        locked, unlocked = gr.update(interactive=False), gr.update(interactive=True)
        question = message or ""
        try:
            stream = engine.stream(question, history=history_turns(messages))
        except AskaiError as exc:
            if question.strip():
                shown = question if len(question) <= 300 else question[:300] + "…"
                messages.append({"role": "user", "content": shown})
            messages.append({"role": "assistant", "content": ERROR_PREFIX + str(exc)})
            yield messages, gr.update(value="", interactive=True), unlocked, "", "", ""
            return
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": ""})
        key = sum(m.get("role") == "user" for m in messages)  # the turn: the [n] links' target
        yield messages, gr.update(value="", interactive=False), locked, WAITING_SOURCES, "", ""
        try:
            # the retrieved passages, shown while the model loads, reads them and writes
            yield messages, locked, locked, passages_html(stream.passages), "", gr.skip()
            for token in stream:
                messages[-1]["content"] += token
                yield messages, locked, locked, gr.skip(), "", gr.skip()
            answer = stream.answer
        except AskaiError as exc:
            messages[-1]["content"] = ERROR_PREFIX + str(exc)
            yield messages, unlocked, unlocked, "", "", gr.skip()
            return
        finally:
            stream.close()
        messages[-1]["content"] = answer_markdown(answer, key)
        yield (messages, unlocked, unlocked, sources_html(answer, key), timing_text(answer),
               gr.skip())

    def open_source(evt: gr.EventData) -> str:
        """The document view of the source whose "Show in document" button was pressed."""
        data = evt._data if isinstance(getattr(evt, "_data", None), dict) else {}
        source = str(data.get("source") or "")
        try:
            start, end = int(data.get("start", -1)), int(data.get("end", -1))
        except (TypeError, ValueError):
            start = end = -1
        record = engine.store.get_document(source) if source else None
        if record is None or record.status != "ready":
            return ('<div class="askai-docview"><p class="note">This document is no longer in '
                    "the index; ask again to get current sources.</p></div>")
        names = short_names(d.doc_id for d in engine.documents())
        try:
            return document_view(
                record, start, end, location=str(data.get("location") or ""),
                name=names.get(source, ""),
            )
        except ValueError as exc:
            return f'<div class="askai-docview"><p class="note">{escape(str(exc))}</p></div>'

    # Gradio passes the event's data to a parameter typed gr.EventData; the type must be the
    # class itself, as `gr` is imported here, not at module level where annotations resolve
    open_source.__annotations__["evt"] = gr.EventData

    def add_files(
        files: list[Any] | None, progress: Any = gr.Progress()  # noqa: B008 - Gradio's idiom
    ) -> tuple[Any, ...]:
        if not files:
            return "Choose one or more files first.", documents_table(), doc_choices(), None
        lines = []
        for i, f in enumerate(files):
            source = Path(f if isinstance(f, str) else getattr(f, "name", str(f)))
            progress((i, len(files)), desc=f"Indexing {source.name}")
            try:
                stored = store_upload(source, upload_dir, max_bytes)
            except (AskaiError, OSError) as exc:
                lines.append(f"❌ {safe_name(source.name)}: {exc}")
                continue
            finally:  # askai's copy is the one kept: Gradio's would outlive a deletion
                discard_gradio_copy(source)
            lines.append(_ingest_upload(stored))
        progress((len(files), len(files)), desc="Done")
        return "\n\n".join(lines), documents_table(), doc_choices(), None

    def _ingest_upload(stored: StoredUpload) -> str:
        outcome = ingest_upload(engine, stored, upload_dir)
        if outcome.status == "failed":
            return f"❌ {outcome.name}: {outcome.reason}"
        if outcome.status == "unchanged":
            return f"= {outcome.name}: already in the index (same content), not added"
        return f"✅ {outcome.name}: indexed, {outcome.chunks} chunks"

    def delete(doc: str | None) -> tuple[Any, ...]:
        if not doc:
            return "Pick a document to delete.", documents_table(), doc_choices()
        docs = engine.documents()
        names = short_names(d.doc_id for d in docs)
        doc_id = next((d.doc_id for d in docs if doc in (d.doc_id, names[d.doc_id])), doc)
        try:  # the stored file goes too if askai stored it (an upload); never others
            delete_document(engine, doc_id, upload_dir)
        except AskaiError as exc:
            return f"❌ {exc}", documents_table(), doc_choices()
        return f"🗑️ {names.get(doc_id, doc_id)} deleted.", documents_table(), doc_choices()

    def ask_api(question: str) -> dict[str, Any]:
        """Answer one question; returns the Answer as a dict (gradio_client: api_name="/ask")."""
        return engine.ask(question).to_dict()

    with gr.Blocks(title="askai") as app:
        gr.Markdown(
            "## askai — ask your documents\nAnswers come only from the indexed documents; every "
            "`[n]` links to a quoted source on the right. Unsupported sentences are removed."
        )
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Chat", height=460, elem_id="chat")
                    question = gr.Textbox(
                        placeholder="Ask a question about the documents…", show_label=False,
                        max_lines=6, elem_id="question",
                    )
                    with gr.Row():
                        send = gr.Button("Ask", variant="primary", elem_id="ask")
                        stop = gr.Button("Stop", elem_id="stop")
                        clear = gr.Button("New chat", elem_id="clear")
                    timing = gr.Markdown(elem_id="timing")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(elem_id="sources", js_on_load=SOURCES_JS)
                    docview = gr.HTML(elem_id="docview", js_on_load=DOCVIEW_JS)
        with gr.Tab("Documents", elem_id="documents-tab"):
            files = gr.File(
                file_count="multiple", label="Upload documents: text, Markdown, HTML, PDF, Word, "
                "PowerPoint, Excel, CSV, EPUB or images",
                elem_id="upload",
            )
            add = gr.Button("Add to index", variant="primary", elem_id="add")
            status = gr.Markdown(elem_id="upload-status")
            table = gr.Dataframe(
                value=documents_table, headers=["Title", "Document", "Chunks", "Ingested at"],
                interactive=False, elem_id="documents",
            )
            with gr.Row():
                pick = gr.Dropdown(
                    label="Document to delete", choices=[], elem_id="pick",
                    allow_custom_value=True,  # an API caller names the document itself
                )
                remove = gr.Button("Delete", variant="stop", elem_id="delete")

        outputs = [chat, question, send, sources, timing, docview]
        common = {"concurrency_id": "model", "concurrency_limit": 1}
        ev_submit = question.submit(
            respond, [question, chat], outputs, api_name="chat", **common
        )
        ev_click = send.click(
            respond, [question, chat], outputs, api_visibility="private", **common
        )
        stop.click(
            lambda: (gr.update(interactive=True), gr.update(interactive=True)),
            None, [question, send], cancels=[ev_submit, ev_click], queue=False,
        )
        clear.click(lambda: ([], "", "", ""), None, [chat, sources, timing, docview], queue=False)
        sources.click(open_source, None, [docview], api_visibility="private")
        add.click(add_files, [files], [status, table, pick, files], api_name="upload")
        remove.click(delete, [pick], [status, table, pick], api_name="delete")
        app.load(doc_choices, None, [pick])
        gr.api(ask_api, api_name="ask", **common)
    return app


def serve(
    engine: Engine, *, host: str | None = None, port: int | None = None, block: bool = True
) -> Any:
    """Serve the page on ``host`` (default: setting ui.host, loopback). Any address but loopback
    needs ui.username and ui.password, and once they are set the page and its API ask for them
    everywhere. ``block=False`` returns the running app (``app.close()`` stops it)."""
    settings = engine.settings
    host = host or settings.ui.host
    login = require_credentials(host, settings.ui.username, settings.ui.password, section="ui")
    app = build_app(engine)
    app.queue(max_size=64, default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port or settings.ui.port,
        max_file_size=f"{int(settings.ui.max_upload_mb * 1000)}kb",
        css=CSS,
        show_error=True,
        quiet=False,
        auth=(login.username, login.password.get_secret_value()) if login else None,
        auth_message="askai: sign in with the user name and password set in ui.username and "
        "ui.password" if login else None,
        prevent_thread_lock=not block,
    )
    return app
