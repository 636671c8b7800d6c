"""`askai eval`: run askai (and optionally the plain llama-index baseline) over an eval set."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from askai.docnames import same_document
from askai.engine import Engine
from askai.errors import ConfigError
from askai.eval.corpora import locate_evidence
from askai.eval.dataset import load_items
from askai.eval.report import HEADLINE, summarize, write_combined, write_report
from askai.eval.runner import askai_row, load_rows, run_system
from askai.grounding import Judge
from askai.llm.provision import sha256_file
from askai.settings import Settings

ROOT_HINT = "eval/results"


@functools.cache
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def model_fingerprint(llm: Any) -> str:
    path = getattr(llm, "model_path", None)
    if path is None:
        return str(getattr(llm, "name", type(llm).__name__))
    st = Path(path).stat()
    return _fingerprint(str(path), st.st_size, st.st_mtime_ns)


_JUDGE_CONTEXTS: dict[int, Any] = {}


def judge_llm(llm: Any) -> Any:
    """The model the eval's claim judge asks: for llama.cpp, the same weights in a context of its
    own, so judging a claim does not evict the answer prompt's cached system prompt (which would
    add its prompt processing to the next answer's measured time to first token)."""
    from askai.llm.llamacpp import LlamaCppLLM

    if not isinstance(llm, LlamaCppLLM):
        return llm
    if id(llm) not in _JUDGE_CONTEXTS:
        _JUDGE_CONTEXTS[id(llm)] = LlamaCppLLM(
            llm.model_path, n_ctx=min(llm.n_ctx, 2048), n_threads=llm.n_threads
        )
    return _JUDGE_CONTEXTS[id(llm)]


def gold_text(engine: Engine, doc_ids: list[str], doc: str) -> str:
    """The text of an eval set's gold document ``doc``, a path relative to the ingested folder,
    among the indexed ``doc_ids`` (askai identifies documents by their whole path)."""
    found = [d for d in doc_ids if same_document(d, doc)]
    if len(found) != 1:
        raise ConfigError(
            f"The eval set's document {doc!r} matches {len(found)} indexed documents "
            f"({', '.join(found[:3]) or 'none'}); ingest the set's corpus into its own index"
        )
    return engine.document_text(found[0])


def gold_text_from_file(engine: Engine, doc: str) -> str:
    """The text of gold document ``doc`` as askai's loader extracts it from the corpus folder
    (what ingest stores for it), without the index: for a run that does not answer with askai
    (the baseline alone, or a report of stored rows), so it needs no current askai index."""
    from askai.ingest.loaders import load_file

    roots = [Path(p) for p in engine.settings.ingest.paths]
    if len(roots) != 1:
        raise ValueError("An eval corpus has exactly one ingest path (setting ingest.paths)")
    path = roots[0] / doc
    if not path.is_file():
        raise ConfigError(f"The eval set's document {doc!r} is not in {roots[0]}")
    ingest = engine.settings.ingest
    return load_file(path, max_bytes=int(ingest.max_file_mb * 1_000_000), ocr=ingest.ocr).text


def evaluate(
    engine: Engine,
    set_path: Path,
    *,
    label: str,
    results_root: Path = Path(ROOT_HINT),
    baseline: bool = False,
    use_judge: bool = True,
    limit: int | None = None,
    stride: int = 1,
    judge_cache: Path | None = None,
    progress: bool = True,
    report_only: bool = False,
    askai: bool = True,
) -> tuple[dict[str, Any], str]:
    """Run the systems over the set (resuming), then write the report (``askai=False``: the
    baseline alone, e.g. in a second process while askai's rows are produced elsewhere;
    ``stride``: every Nth item). With ``report_only`` no item is answered: the rows already
    written are reported, every system on the items all of them have answered (an interrupted
    run can be reported, then resumed later)."""
    items = load_items(set_path)[::stride]
    items = items[:limit] if limit else items
    if askai and not report_only:  # located in the text askai indexed and answers from
        doc_ids = [d.doc_id for d in engine.documents()]
        items = locate_evidence(items, functools.partial(gold_text, engine, doc_ids))
    else:
        items = locate_evidence(items, functools.partial(gold_text_from_file, engine))
    out_dir = results_root / label
    judge = None
    if use_judge:
        judge = Judge(judge_llm(engine.llm), model_fingerprint(engine.llm),
                      judge_cache or results_root / "judge_cache.jsonl")
    if report_only:
        stored = {name: load_rows(out_dir / f"{name}.jsonl")
                  for name in (("askai", "baseline") if baseline else ("askai",))}
        common = [i.id for i in items if all(i.id in rows for rows in stored.values())]
        if not common:
            raise ValueError(f"No item answered by every system under {out_dir}; run without "
                             "--report-only first")
        rows = {name: [r[i] for i in common] for name, r in stored.items()}
    elif askai:
        rows = {
            "askai": run_system("askai", lambda it: askai_row(engine, it, judge), items,
                                out_dir / "askai.jsonl", progress=progress)
        }
    else:
        rows = {}
    if baseline and not report_only:
        from askai.eval.baseline import Baseline

        roots = {Path(p) for p in engine.settings.ingest.paths}
        if len(roots) != 1:
            raise ValueError("--baseline needs exactly one ingest path (setting ingest.paths)")
        base = Baseline(roots.pop(), engine.embedder, engine.llm, engine.settings.llm.n_ctx)
        rows["baseline"] = run_system("baseline", lambda it: base.row(it, judge), items,
                                      out_dir / "baseline.jsonl", progress=progress)
    summaries = {name: summarize(r) for name, r in rows.items()}
    calibration_path = set_path.parent / "calibration.jsonl"
    calibration = None
    if calibration_path.is_file():
        from askai.eval.calibration import calibrate, load_labels

        calibration = calibrate(load_labels(calibration_path), judge)
    curve = None
    if "askai" in rows:
        from askai.eval.tradeoff import tradeoff

        retrieval = engine.settings.retrieval
        curve = tradeoff(rows["askai"], items, min_coverage=retrieval.min_coverage,
                         min_relevance=retrieval.min_relevance,
                         anchored_coverage=retrieval.anchored_coverage)
    llm = engine.llm
    meta = {
        "label": label, "set": str(set_path),
        "items": len(next(iter(rows.values()))), "items_in_set": len(items),
        "model": getattr(llm, "name", "?"), "threads": getattr(llm, "n_threads", "?"),
        "judge": "lexical + model judge" if judge else "lexical only",
        "judge_calls_this_run": judge.calls if judge else 0,
        "calibration": calibration,
        "tradeoff": curve, "min_coverage": engine.settings.retrieval.min_coverage,
        "min_relevance": engine.settings.retrieval.min_relevance,
    }
    md = write_report(out_dir, summaries, meta)
    return {"meta": meta, "systems": summaries, "rows": rows}, md


def evaluate_corpora(
    settings: Settings,
    names: list[str],
    *,
    label: str,
    results_root: Path = Path(ROOT_HINT),
    baseline: bool = False,
    use_judge: bool = True,
    limit: int | None = None,
    stride: int = 1,
    progress: bool = True,
    report_only: bool = False,
    askai: bool = True,
) -> tuple[dict[str, Any], str]:
    """Each corpus in its own index (ingested first, incrementally), one report per corpus under
    ``results_root/label/<corpus>/``, and a combined report beside them: every corpus and all of
    them together, askai and the baseline side by side. One embedder and one model serve all."""
    from askai.eval.corpora import corpora
    from askai.index.embedder import build_embedder
    from askai.llm.base import build_llm

    chosen = corpora(names)
    embedder = build_embedder(settings.embedder)
    llm = build_llm(settings.llm)
    per_corpus: dict[str, dict[str, Any]] = {}
    for corpus in chosen:
        docs = corpus.prepare()
        engine = corpus.engine(settings, docs, embedder=embedder, llm=llm)
        if not report_only and askai:  # (the baseline alone reads the gold documents' text
            # from the corpus folder with askai's loader: it may run beside a process that
            # writes the index, or before there is one)
            report = engine.ingest(prune=True, progress=progress)
            if report.failed:
                raise ConfigError(f"{corpus.name}: {len(report.failed)} files failed to ingest, "
                                  f"first {report.failed[0].path}: {report.failed[0].reason}")
        per_corpus[corpus.name], _ = evaluate(
            engine, corpus.questions, label=f"{label}/{corpus.name}", results_root=results_root,
            baseline=baseline, use_judge=use_judge, limit=limit, stride=stride,
            progress=progress,
            judge_cache=results_root / "judge_cache.jsonl", report_only=report_only,
            askai=askai,
        )
    combined = {name: r["rows"] for name, r in per_corpus.items()}
    tradeoffs = {name: r["meta"]["tradeoff"] for name, r in per_corpus.items()
                 if r["meta"].get("tradeoff")}
    md = write_combined(results_root / label, combined, {c.name: c.title for c in chosen},
                        tradeoffs)
    return {"corpora": {n: {"meta": r["meta"], "systems": r["systems"]}
                        for n, r in per_corpus.items()}}, md


def headline(report: dict[str, Any]) -> str:
    systems = report["systems"]
    width = max(len(t) for _, t in HEADLINE)
    lines = [f"{'':{width}}  " + "  ".join(f"{s:>10}" for s in systems)]
    for key, title in HEADLINE:
        cells = "  ".join(f"{100 * systems[s][key]['value']:>9.1f}%" for s in systems)
        lines.append(f"{title:{width}}  {cells}")
    for key in ("first_token_s", "total_s"):
        cells = "  ".join(
            f"{systems[s]['latency'][key]['p50']:>9.2f}s" if key in systems[s]["latency"]
            else f"{'—':>10}" for s in systems
        )
        lines.append(f"{key.replace('_s', '') + ' p50':{width}}  {cells}")
    return "\n".join(lines)


__all__ = ["evaluate", "evaluate_corpora", "headline"]
