"""The anchor askai has to beat: a plain llama-index pipeline with library defaults.

SimpleDirectoryReader (with llama-index-readers-file's readers: PDFs page by page; HTML as text)
→ SentenceSplitter(1024, 200) → VectorStoreIndex over Chroma (same engine,
a fresh collection) with the same embedder → CitationQueryEngine(similarity_top_k=2) with the same
local model. Only thin adapters are ours: they hand llama-index askai's embedder and LLM objects.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from askai.eval.dataset import Item
from askai.eval.runner import RETRIEVE_K, judge_claims
from askai.grounding import Judge
from askai.index.embedder import Embedder
from askai.llm.base import LLM

BASELINE_MAX_TOKENS = 256  # llama-index's LlamaCPP default max_new_tokens


def llama_index_embedding(embedder: Embedder, batch_size: int = 32) -> Any:
    """A llama-index ``BaseEmbedding`` handing texts to askai's embedder (same model, same
    normalisation): the baseline and the ingest benchmark use it."""
    from llama_index.core.embeddings import BaseEmbedding

    class Embed(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed_query(query).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.embed_documents([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_documents(texts).tolist()

    return Embed(model_name=embedder.name, embed_batch_size=batch_size)


def _adapters(embedder: Embedder, llm: LLM, n_ctx: int) -> tuple[Any, Any]:
    from llama_index.core.base.llms.types import (
        CompletionResponse,
        CompletionResponseGen,
        LLMMetadata,
    )
    from llama_index.core.llms import CustomLLM
    from llama_index.core.llms.callbacks import llm_completion_callback

    class Generate(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=n_ctx, num_output=BASELINE_MAX_TOKENS,
                               model_name=llm.name)

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            text = "".join(llm.stream([{"role": "user", "content": prompt}],
                                      max_tokens=BASELINE_MAX_TOKENS, temperature=0.0))
            return CompletionResponse(text=text)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False,
                            **kw: Any) -> CompletionResponseGen:
            text = ""
            for token in llm.stream([{"role": "user", "content": prompt}],
                                    max_tokens=BASELINE_MAX_TOKENS, temperature=0.0):
                text += token
                yield CompletionResponse(text=text, delta=token)

    return llama_index_embedding(embedder), Generate()


class Baseline:
    def __init__(self, corpus_root: Path, embedder: Embedder, llm: LLM, n_ctx: int) -> None:
        import chromadb
        from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.query_engine import CitationQueryEngine
        from llama_index.vector_stores.chroma import ChromaVectorStore

        embed, generate = _adapters(embedder, llm, n_ctx)
        self.root = corpus_root.resolve()
        docs = SimpleDirectoryReader(str(self.root), recursive=True, required_exts=[
            ".txt", ".md", ".html", ".pdf"], exclude=["README.md"],
            exclude_hidden=False,  # the eval's corpora live under eval/.work/
        ).load_data()
        # llama-index's readers (PDF: one document per page) as a user of it would get them
        self.texts: dict[str, str] = {}
        for d in docs:
            doc_id = self._doc_id(d.metadata["file_path"])
            self.texts[doc_id] = self.texts.get(doc_id, "") + "\n\n" + d.text
        self._tmp = tempfile.TemporaryDirectory(prefix="askai-baseline-")
        client = chromadb.PersistentClient(path=self._tmp.name)
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
        nodes = SentenceSplitter(chunk_size=1024, chunk_overlap=200).get_nodes_from_documents(docs)
        self.index = VectorStoreIndex(
            nodes, storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
        )
        self.engine = CitationQueryEngine.from_args(self.index, llm=generate, similarity_top_k=2)
        self.retriever = self.index.as_retriever(similarity_top_k=2)

    def _doc_id(self, file_path: str) -> str:
        return Path(file_path).resolve().relative_to(self.root).as_posix()

    def row(self, item: Item, judge: Judge | None) -> dict[str, Any]:
        t0 = time.perf_counter()
        nodes = self.retriever.retrieve(item.question)
        retrieve_s = time.perf_counter() - t0
        retrieved = [
            (self._doc_id(n.node.metadata["file_path"]), n.node.start_char_idx or 0,
             n.node.end_char_idx or 0)
            for n in nodes
        ][:RETRIEVE_K]
        retrieved_text = [n.node.get_content() for n in nodes][:RETRIEVE_K]
        response = self.engine.query(item.question)
        total_s = time.perf_counter() - t0
        sources = []
        for n in response.source_nodes:
            text = n.node.get_content()
            body = text.split(":\n", 1)[1] if text.startswith("Source ") else text
            sources.append((self._doc_id(n.node.metadata["file_path"]), body.strip()))
        text = str(response.response or "").strip()

        def cited(m: int) -> str | None:
            return sources[m - 1][1] if 1 <= m <= len(sources) else None

        claims, precision = judge_claims(text, cited, judge, item.question)
        used = {m for m in range(1, len(sources) + 1) if f"[{m}]" in text}
        citations = []
        for m in sorted(used):
            doc, body = sources[m - 1]
            citations.append({"source": doc, "valid": body in self.texts[doc]})
        refused = _looks_refused(text)
        return {
            "question": item.question, "searched": item.question, "text": text, "raw_text": text,
            "refused": refused, "retrieved": retrieved, "retrieved_text": retrieved_text,
            "citations": citations,
            "claims": [] if refused else claims, "precision": [] if refused else precision,
            # not streamed: time to first token is not measured for the baseline
            "timings": {"retrieve_s": retrieve_s, "total_s": total_s},
            "dropped": [],
            "sources": [{"source": doc, "text": body} for doc, body in sources],
        }


def _looks_refused(text: str) -> bool:
    from askai.answer import is_refusal

    return is_refusal(text)
