"""The Gradio chat page. It calls the engine's streaming API; it holds no retrieval logic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from askai.access import require_credentials
from askai.docnames import short_names
from askai.engine import Engine
from askai.errors import AskaiError
from askai.ui.render import CSS, answer_markdown, sources_html, timing_text
from askai.ui.uploads import (
    StoredUpload,
    discard_gradio_copy,
    remove_upload,
    safe_name,
    store_upload,
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
                turns.append((question, text.split("\n\n⚠️")[0].strip("*")))
            question = None
    return turns


def build_app(engine: Engine) -> Any:
    import gradio as gr

    settings = engine.settings
    upload_dir = Path(settings.ui.upload_dir)
    max_bytes = int(min(settings.ui.max_upload_mb, settings.ingest.max_file_mb) * 1_000_000)

    def documents_table() -> list[list[Any]]:
        docs = engine.documents()
        names = short_names(d.doc_id for d in docs)
        return [[names[d.doc_id], d.chunks, d.ingested_at] for d in docs]

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
            yield messages, gr.update(value="", interactive=True), unlocked, "", ""
            return
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": ""})
        yield messages, gr.update(value="", interactive=False), locked, WAITING_SOURCES, ""
        try:
            for token in stream:
                messages[-1]["content"] += token
                yield messages, locked, locked, WAITING_SOURCES, ""
            answer = stream.answer
        except AskaiError as exc:
            messages[-1]["content"] = ERROR_PREFIX + str(exc)
            yield messages, unlocked, unlocked, "", ""
            return
        finally:
            stream.close()
        messages[-1]["content"] = answer_markdown(answer)
        yield messages, unlocked, unlocked, sources_html(answer), timing_text(answer)

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
        name = stored.path.name
        try:
            report = engine.ingest([stored.path], progress=False)
        except AskaiError as exc:  # the index, not this file (e.g. read-only): say so, go on
            if stored.created:
                remove_upload(stored.path, upload_dir)
            return f"❌ {name}: {exc}"
        indexed = any(d.path == str(stored.path) for d in engine.documents())
        if stored.created and not indexed:  # remove only the file this upload made
            remove_upload(stored.path, upload_dir)
        if report.failed:
            return f"❌ {name}: {report.failed[0].reason}"
        if report.skipped:
            return f"= {name}: already in the index (same content), not added"
        return f"✅ {name}: indexed, {report.chunks} chunks"

    def delete(doc: str | None) -> tuple[Any, ...]:
        if not doc:
            return "Pick a document to delete.", documents_table(), doc_choices()
        docs = engine.documents()
        names = short_names(d.doc_id for d in docs)
        doc_id = next((d.doc_id for d in docs if doc in (d.doc_id, names[d.doc_id])), doc)
        try:
            record = engine.delete_document(doc_id)
        except AskaiError as exc:
            return f"❌ {exc}", documents_table(), doc_choices()
        if record.path:  # the stored file goes too if askai stored it (an upload); never others
            remove_upload(record.path, upload_dir)
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
                    sources = gr.HTML(elem_id="sources")
        with gr.Tab("Documents", elem_id="documents-tab"):
            files = gr.File(
                file_count="multiple", label="Upload documents: text, Markdown, HTML, PDF, Word, "
                "PowerPoint, Excel, CSV, EPUB or images",
                elem_id="upload",
            )
            add = gr.Button("Add to index", variant="primary", elem_id="add")
            status = gr.Markdown(elem_id="upload-status")
            table = gr.Dataframe(
                value=documents_table, headers=["Document", "Chunks", "Ingested at"],
                interactive=False, elem_id="documents",
            )
            with gr.Row():
                pick = gr.Dropdown(
                    label="Document to delete", choices=[], elem_id="pick",
                    allow_custom_value=True,  # an API caller names the document itself
                )
                remove = gr.Button("Delete", variant="stop", elem_id="delete")

        outputs = [chat, question, send, sources, timing]
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
        clear.click(lambda: ([], "", ""), None, [chat, sources, timing], queue=False)
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
