"""The `askai` command. Heavy libraries load only inside the command that needs them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from askai.errors import AskaiError, InputError

if TYPE_CHECKING:
    from askai.engine import Engine


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="askai", description="Ask questions about your documents; answers cite their sources."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index files and folders (default: the ingest/ folder)")
    p.add_argument("paths", nargs="*", help="files or folders (.txt .md .html .pdf .docx .pptx "
                   ".xlsx .csv .epub, images)")
    p.add_argument("--prune", action="store_true", help="remove documents whose files are gone")
    p.add_argument("--reset", action="store_true", help="empty the index first")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question")
    p.add_argument("-k", "--top-k", type=int, default=None, help="chunks to retrieve")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")

    sub.add_parser("documents", help="list the indexed documents")

    p = sub.add_parser("eval", help="run the grounding benchmark and write a report")
    p.add_argument("set", nargs="?", default=None,
                   help="an eval set (JSON lines) over the configured index (default: "
                        "eval/questions.jsonl); or use --corpus")
    p.add_argument("--corpus", action="append", default=None, metavar="NAME",
                   help="a built-in corpus, each in its own index: articles, python-doc, "
                        "r-manuals, or all (repeatable)")
    p.add_argument("--label", default="latest", help="results go to eval/results/LABEL/")
    p.add_argument("--baseline", action="store_true",
                   help="also run the plain llama-index pipeline, side by side")
    p.add_argument("--baseline-only", action="store_true",
                   help="run only the baseline (gold quotes are located in the corpus files "
                        "as askai's loader reads them; no askai index is needed)")
    p.add_argument("--no-judge", action="store_true", help="lexical checker only (no model judge)")
    p.add_argument("--limit", type=int, default=None, help="only the first N items")
    p.add_argument("--stride", type=int, default=1,
                   help="every Nth item of the set (a sample spread over every category)")
    p.add_argument("--results", default="eval/results", help="results folder")
    p.add_argument("--report-only", action="store_true",
                   help="answer nothing; report the rows already written (on the common items)")

    sub.add_parser(
        "doctor", help="check the CPU, llama.cpp build, model, embedder and store (for bug reports)"
    )

    p = sub.add_parser("ui", help="serve the chat page (default http://127.0.0.1:7860)")
    p.add_argument("--host", default=None, help="address to bind (default: setting ui.host)")
    p.add_argument("--port", type=int, default=None, help="port (default: setting ui.port)")

    p = sub.add_parser(
        "serve", help="serve the HTTP API: OpenAI-compatible chat with citations "
        "(default http://127.0.0.1:8765, schema at /docs)"
    )
    p.add_argument("--host", default=None, help="address to bind (default: setting server.host)")
    p.add_argument("--port", type=int, default=None, help="port (default: setting server.port)")

    p = sub.add_parser("mcp", help="serve askai to MCP clients (stdio, or streamable HTTP)")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                   help="stdio (the client starts askai) or streamable HTTP at /mcp")
    p.add_argument("--host", default=None, help="http: address (default: setting server.host)")
    p.add_argument("--port", type=int, default=None,
                   help="http: port (default: setting server.mcp_port)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. When the reader of our output leaves early (``askai documents | head``),
    askai stops quietly with status 0, for every command: Python's recipe for SIGPIPE
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # inside the guard: buffered output meets a closed pipe here
    except BrokenPipeError:
        # the interpreter flushes stdout again at exit: point it at devnull so that is quiet too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except AskaiError as exc:
        print(f"askai: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("askai: interrupted", file=sys.stderr)
        return 130


def _engine(reset_index: bool = False):  # noqa: ANN202 - imported lazily: --help stays instant
    from askai.engine import build_engine

    return build_engine(reset_index=reset_index)


def _cmd_ingest(args: argparse.Namespace) -> int:
    # --reset empties the index while opening it, so it also repairs an unreadable one
    engine = _engine(reset_index=args.reset)
    report = engine.ingest(args.paths or None, prune=args.prune, progress=not args.quiet)
    for failure in report.failed:
        print(f"askai: failed: {failure.path}: {failure.reason}", file=sys.stderr)
    print(f"Ingested: {report.summary()}; {engine.store.count()} chunks in the index")
    return 0 if report.ok else 1


def _cmd_ask(args: argparse.Namespace) -> int:
    # Only verified text is printed: the answer appears once it is checked (sentence checks and
    # the relevance check can remove any of the model's draft), with progress on stderr meanwhile.
    answer = _answer(_engine(), args.question, args.top_k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    for s in answer.sentences:
        if not s.supported:
            print(f"askai: removed from the answer ({s.reason}): {s.text}", file=sys.stderr)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"[{c.marker}] {_where(c)}: \"{c.quote}\"")
    t = answer.timings
    print(
        f"\n(retrieval {t['retrieve_s'] * 1000:.0f} ms, first token {t['first_token_s']:.2f} s, "
        f"total {t['total_s']:.2f} s)"
    )
    return 0


def _where(c) -> str:  # noqa: ANN001 - a Citation (imported lazily)
    """A source as a person finds it: title, page/slide/row, section, then the file and offsets:
    ``Annual report — page 3 — Costs › Travel (reports/2024.pdf, characters 120-180)``."""
    parts = [c.title or c.name or c.source, c.location, c.section]
    shown = " — ".join(p for p in parts if p)
    return f"{shown} ({c.name or c.source}, characters {c.start}-{c.end})"


def _answer(engine, question: str, top_k: int | None):  # noqa: ANN001, ANN202 - lazy imports
    """The verified answer; a progress line on stderr (a terminal only) while the model works."""
    from tqdm import tqdm

    stream = engine.stream(question, top_k=top_k)
    # tokens are counted, not shown; the checks run after the last one, before the line clears
    with tqdm(desc="askai: searching, generating and checking", unit=" tokens", file=sys.stderr,
              leave=False, disable=None) as progress:
        for _ in stream:
            progress.update()
    return stream.answer


def _cmd_documents(args: argparse.Namespace) -> int:
    from askai.docnames import short_names

    docs = _engine().documents()
    names = short_names(d.doc_id for d in docs)  # enough of each path to tell them apart
    for d in docs:
        print(f"{names[d.doc_id]}\t{d.chunks} chunks\t{d.ingested_at}\t{d.title}")
    print(f"{len(docs)} documents")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from askai.eval.main import evaluate, headline

    if args.limit is not None and args.limit < 1:
        raise InputError(f"Expected --limit >= 1, got {args.limit}")
    if args.stride < 1:
        raise InputError(f"Expected --stride >= 1, got {args.stride}")
    if args.corpus:
        from askai.eval.main import evaluate_corpora
        from askai.settings import load_settings

        if args.set is not None:
            raise InputError("Give an eval set or --corpus, not both")
        _, md = evaluate_corpora(
            load_settings(), args.corpus, label=args.label, results_root=Path(args.results),
            baseline=args.baseline or args.baseline_only, use_judge=not args.no_judge,
            limit=args.limit, stride=args.stride, report_only=args.report_only,
            askai=not args.baseline_only,
        )
        print(md)
        print(f"Report: {Path(args.results) / args.label / 'report.md'}")
        return 0
    report, _ = evaluate(
        _engine(), Path(args.set or "eval/questions.jsonl"), label=args.label,
        results_root=Path(args.results),
        baseline=args.baseline or args.baseline_only, use_judge=not args.no_judge,
        limit=args.limit, stride=args.stride, report_only=args.report_only,
        askai=not args.baseline_only,
    )
    print(headline(report))
    print(f"\nReport: {Path(args.results) / args.label / 'report.md'}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from askai.doctor import diagnose, render
    from askai.settings import load_settings

    findings = diagnose(load_settings())
    print(render(findings))
    return 1 if any(f.status == "FAIL" for f in findings) else 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from askai.access import require_credentials
    from askai.settings import load_settings
    from askai.ui import serve

    ui = load_settings().ui  # refuse an open address before loading anything heavy
    require_credentials(args.host or ui.host, ui.username, ui.password, section="ui")
    serve(_serving_engine("upload files in the page"), host=args.host, port=args.port)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from askai.access import require_token
    from askai.server.app import serve
    from askai.settings import load_settings

    server = load_settings().server  # refuse an open address before loading anything heavy
    require_token(args.host or server.host, server.token, section="server")
    serve(_serving_engine("POST files to /v1/documents"), host=args.host, port=args.port)
    return 0


def _serving_engine(how_to_add: str) -> Engine:
    """The engine a server answers with, its model loaded before the first reader waits for it;
    an empty index is said on stderr (with ``how_to_add`` documents), not refused."""
    engine = _engine()
    if engine.store.count() == 0:
        print(f"askai: the index is empty; run `askai ingest` or {how_to_add}", file=sys.stderr)
    _ = engine.llm
    return engine


def _cmd_mcp(args: argparse.Namespace) -> int:
    from askai.access import require_token
    from askai.server.mcp_server import run
    from askai.settings import load_settings

    server = load_settings().server
    if args.transport == "http":
        require_token(args.host or server.host, server.token, section="server")
    run(_engine(), transport=args.transport, host=args.host, port=args.port)
    return 0


_COMMANDS = {
    "ingest": _cmd_ingest, "ask": _cmd_ask, "documents": _cmd_documents, "ui": _cmd_ui,
    "eval": _cmd_eval, "doctor": _cmd_doctor, "serve": _cmd_serve, "mcp": _cmd_mcp,
}

if __name__ == "__main__":
    raise SystemExit(main())
