"""Where answerable items are lost before the model: for each eval corpus, how often the gold
document is among the retrieved chunks, the gold quote inside a retrieved chunk, and the gold quote
inside the passages the model is shown. No model is loaded; the corpus index is built (or brought
up to date) first, as `askai eval --corpus` does.

    .venv/bin/python eval/tools/evidence_reach.py python-doc r-manuals [--top-k 4] [--show-misses]
        [--stride N]

(Session 8 also ranked chunks by a vector of their own, the length-weighted mean of their
sentences' vectors, with ``--dense chunks``: eval/results/s8-evidence-reach-dense.jsonl, from
commit df90cd6. It lost python-doc 4 of 58 items; chunks have had no vector since index format 7,
and the option went with them.)
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time

from askai.docnames import same_document
from askai.eval.corpora import corpora, locate_evidence, quote_in
from askai.eval.dataset import load_items
from askai.eval.main import gold_text_from_file
from askai.index.embedder import build_embedder
from askai.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="+")
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--stride", type=int, default=1, help="every Nth item")
    args = parser.parse_args()
    settings = load_settings()
    embedder = build_embedder(settings.embedder)
    results = {}
    for corpus in corpora(args.corpora):
        docs = corpus.prepare()
        engine = corpus.engine(settings, docs, embedder=embedder)
        cs = engine.settings
        report = engine.ingest(prune=True, progress=False)
        items = locate_evidence(
            [i for i in load_items(corpus.questions)[::args.stride] if i.answerable],
            functools.partial(gold_text_from_file, engine),
        )
        k = args.top_k or cs.retrieval.top_k
        doc_hit = chunk_hit = passage_hit = 0
        chars, times = [], []
        for item in items:
            t0 = time.perf_counter()
            found = engine.retriever.retrieve(item.question, k)
            times.append(time.perf_counter() - t0)
            gold = item.evidence
            doc_hit += any(same_document(h.chunk.doc_id, e.doc) for h in found.hits for e in gold)
            in_chunk = any(quote_in(h.chunk.text, e.quote) for h in found.hits for e in gold
                           if same_document(h.chunk.doc_id, e.doc))
            in_passage = any(quote_in(p.text, e.quote) for p in found.passages for e in gold
                             if same_document(p.source, e.doc))
            chunk_hit += in_chunk
            passage_hit += in_passage
            chars.append(sum(len(p.text) for p in found.passages))
            if args.show_misses and not in_passage:
                print(f"  MISS {item.id} ({'chunk' if in_chunk else 'retrieval'}): "
                      f"{item.question}")
                for p in found.passages:
                    print(f"      [{p.source} | {p.section[-60:]}] {p.text[:140]!r}")
        n = len(items)
        results[corpus.name] = {
            "answerable": n, "ingest": report.summary(),
            "gold_doc_retrieved": round(doc_hit / n, 3),
            "gold_quote_in_chunks": round(chunk_hit / n, 3),
            "gold_quote_in_passages": round(passage_hit / n, 3),
            "evidence_chars_p50": statistics.median(chars),
            "retrieve_ms_p50": round(1000 * statistics.median(times), 1),
        }
        print(json.dumps({corpus.name: results[corpus.name]}), flush=True)


if __name__ == "__main__":
    main()
