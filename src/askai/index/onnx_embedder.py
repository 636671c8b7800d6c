"""An ONNX Runtime embedder: the same local sentence-transformers weights, exported to ONNX once.

The fp32 export gives the vectors the torch embedder gives (mean pooling over the attention mask,
then L2 normalisation, as sentence-transformers does), so it shares the torch embedder's name and
index. The int8 variant (``quantize=True``) is a dynamically quantised copy of that export: faster,
but its vectors differ slightly, so it has a name of its own and an index built with one is not
searched with the other.

Exports live in ``<cache_dir>/<model name>-<fingerprint>/``, where the fingerprint covers the
model's config and weights and this module's export recipe; they are written atomically (temp file,
then rename), reused on the next start, and rebuilt if a cached file cannot be loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from askai.errors import ConfigError, ModelNotFoundError

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the export recipe below changes: old exports are then not reused
OPSET = 17
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_OUTPUT = "last_hidden_state"
_SWITCH_BACK = "or set ASKAI_EMBEDDER__BACKEND=torch"


class OnnxEmbedder:
    """Normalised sentence embeddings from an ONNX export of a local mean-pooling model."""

    def __init__(
        self,
        model: str | Path,
        *,
        cache_dir: str | Path | None = None,
        quantize: bool = False,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ConfigError(
                f"The onnx embedder backends need onnxruntime and onnx ({exc}): "
                f"`pip install onnxruntime onnx`, {_SWITCH_BACK}."
            ) from exc

        model_dir = Path(str(model)).expanduser()
        if not (model_dir / "config.json").is_file():
            raise ModelNotFoundError(
                f"The onnx embedder needs a local model folder, and {str(model)!r} has no "
                "config.json; set ASKAI_EMBEDDER__MODEL to a sentence-transformers model folder, "
                f"{_SWITCH_BACK}."
            )
        layout = _read_layout(model_dir)
        self.batch_size = int(batch_size)
        self.quantized = bool(quantize)
        base_name = model_dir.name or str(model)
        self.name = f"{base_name}-int8" if quantize else base_name
        self.max_seq_length = layout.max_seq_length

        try:
            self._tokenizer = _load_tokenizer(layout.transformer_dir)
        except Exception as exc:  # noqa: BLE001 - the tokenizers library raises its own types
            raise ModelNotFoundError(
                f"Could not load the tokenizer of {str(model)!r} ({exc}); set "
                "ASKAI_EMBEDDER__MODEL to a sentence-transformers model folder."
            ) from exc
        if self.max_seq_length is None:
            self.max_seq_length = int(
                min(self._tokenizer.model_max_length, layout.max_position_embeddings or 512)
            )
        self._tokenizer.truncate_at(self.max_seq_length)
        self._pad_id = int(self._tokenizer.pad_token_id or 0)

        self._options = ort.SessionOptions()
        self._options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
        self._options.inter_op_num_threads = 1
        self._options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._options.log_severity_level = 3  # errors only
        self._ort = ort
        # onnxruntime's CPU arena keeps the high-water mark of every batch shape it has seen
        # (some 450 MB after an ingest, held for the life of the process); shrinking it after
        # each run gives that back (peak RSS -200 MB, steady -450 MB) for ~5-10% of embedding
        # speed (bench: README "Measured numbers")
        self._run_options = ort.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

        cache_root = Path(cache_dir or Path.home() / ".cache" / "askai" / "embedders")
        fingerprint = _fingerprint(layout)
        folder = cache_root.expanduser() / f"{base_name}-{fingerprint}"
        self.fp32_path = folder / FP32_FILE
        self.onnx_path = folder / INT8_FILE if quantize else self.fp32_path
        self._layout = layout
        self._session = self._load_or_build()
        # what the export takes, in its order (a subset of input_ids, attention_mask,
        # token_type_ids: checked when it was exported)
        self._input_names = [i.name for i in self._session.get_inputs()]
        unknown = set(self._input_names) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown or "input_ids" not in self._input_names:
            raise ConfigError(
                f"The ONNX export {self.onnx_path} takes inputs {self._input_names}; the onnx "
                f"backend feeds input_ids, attention_mask and token_type_ids, {_SWITCH_BACK}."
            )
        self.dimension = layout.dimension or int(self._session.get_outputs()[0].shape[-1])
        self._lock = threading.Lock()

    # -- the cached export ------------------------------------------------------------------

    def _load_or_build(self) -> Any:
        path = self.onnx_path
        if path.is_file():
            try:
                return self._open(path)
            except Exception as exc:  # onnxruntime raises its own exception types
                log.warning("Cached ONNX model %s cannot be loaded (%s); rebuilding it", path, exc)
        if self.quantized:
            self._build_int8()
        else:
            self._export_fp32()
        try:
            return self._open(path)
        except Exception as exc:
            raise ModelNotFoundError(
                f"The freshly built ONNX model {path} cannot be loaded ({exc}); delete "
                f"{path.parent} and try again, {_SWITCH_BACK}."
            ) from exc

    def _open(self, path: Path) -> Any:
        return self._ort.InferenceSession(
            str(path), sess_options=self._options, providers=["CPUExecutionProvider"]
        )

    def _export_fp32(self) -> None:
        source = self._layout.transformer_dir
        names = _model_input_names(source)
        _atomic_write(self.fp32_path, lambda tmp: _export(source, names, tmp))

    def _build_int8(self) -> None:
        if not self.fp32_path.is_file():
            self._export_fp32()
        try:
            _atomic_write(self.onnx_path, lambda tmp: _quantize(self.fp32_path, tmp))
        except ConfigError:
            raise
        except Exception as exc:  # a damaged fp32 export: rebuild it once, then quantise again
            log.warning("Could not quantise %s (%s); exporting it again", self.fp32_path, exc)
            self._export_fp32()
            try:
                _atomic_write(self.onnx_path, lambda tmp: _quantize(self.fp32_path, tmp))
            except ConfigError:
                raise
            except Exception as again:
                raise ConfigError(
                    f"Could not quantise the ONNX export {self.fp32_path} to int8 ({again}); "
                    "set ASKAI_EMBEDDER__BACKEND=onnx (or torch)."
                ) from again

    # -- the Embedder protocol ---------------------------------------------------------------

    @property
    def tokenizer(self) -> Callable[[str], list[int]]:
        return self._tokenizer.plain

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            ids, types = self._tokenizer.model_inputs([str(t) for t in texts])
            out = np.empty((len(ids), self.dimension), dtype=np.float32)
            for rows in _batches([len(row) for row in ids], self.batch_size):
                batch_types = [types[i] for i in rows] if types else None
                out[rows] = self._embed_batch([ids[i] for i in rows], batch_types)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def _embed_batch(self, ids: list[list[int]], types: list[list[int]] | None) -> np.ndarray:
        width = max(len(row) for row in ids)
        input_ids = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        token_types = np.zeros((len(ids), width), dtype=np.int64)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
            if types:
                token_types[r, : len(row)] = types[r]
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": token_types}
        hidden = self._session.run([_OUTPUT], {n: feeds[n] for n in self._input_names},
                                   self._run_options)[0]
        return _mean_pool_normalise(hidden, mask)


def _batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so little of any batch is padding.

    Sorted by length, and a batch also ends before a text over twice as long as its shortest:
    padding costs time, and with int8 it would widen the per-batch activation ranges."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if (
            not batches
            or len(batches[-1]) >= batch_size
            or lengths[i] > 2 * lengths[batches[-1][0]] + 8
        ):
            batches.append([])
        batches[-1].append(i)
    return batches


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling, then its Normalize module (eps as in torch)."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


# -- the tokenizer ----------------------------------------------------------------------------


class _Tokenizer:
    """The model's ``tokenizer.json`` through the ``tokenizers`` library, which is what
    transformers' fast tokenizers run, without importing transformers: that import pulls in
    torch, some 400 MB of memory in every askai process, for no vector of its own. Models
    without a ``tokenizer.json`` get transformers' tokenizer (:class:`_TransformersTokenizer`)."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        config = folder / "tokenizer_config.json"
        settings = _read_json(config) if config.is_file() else {}
        settings = settings if isinstance(settings, dict) else {}
        self._plain = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._plain.no_truncation()
        self._plain.no_padding()
        self._model = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._model.no_padding()
        # transformers' default when a tokenizer names no limit: no limit
        self.model_max_length = int(settings.get("model_max_length") or 10**30)
        pad = settings.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_token_id = self._plain.token_to_id(pad) if isinstance(pad, str) else None

    def truncate_at(self, length: int) -> None:
        # as transformers' truncation=True, max_length=length: the special tokens count
        self._model.enable_truncation(length, strategy="longest_first")

    def plain(self, text: str) -> list[int]:
        """The text's tokens, no special tokens, not truncated (for counting)."""
        return self._plain.encode(text, add_special_tokens=False).ids

    def model_inputs(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        """``(input ids, token type ids)`` of each text as the model reads it."""
        encoded = self._model.encode_batch(texts)
        return [e.ids for e in encoded], [e.type_ids for e in encoded]


class _TransformersTokenizer:
    """A model's tokenizer through transformers (for folders without ``tokenizer.json``)."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model_max_length = int(self._tok.model_max_length)
        self.pad_token_id = self._tok.pad_token_id
        self._length = self.model_max_length

    def truncate_at(self, length: int) -> None:
        self._length = length

    def plain(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False, verbose=False)

    def model_inputs(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        encoded = self._tok(texts, truncation=True, max_length=self._length, padding=False,
                            return_attention_mask=False, verbose=False)
        ids = encoded["input_ids"]
        return ids, encoded.get("token_type_ids") or [[0] * len(row) for row in ids]


def _load_tokenizer(folder: Path) -> _Tokenizer | _TransformersTokenizer:
    if (folder / "tokenizer.json").is_file():
        return _Tokenizer(folder)
    return _TransformersTokenizer(folder)


def _model_input_names(folder: Path) -> list[str]:
    """The inputs transformers' tokenizer of the model produces (what the export takes)."""
    from transformers import AutoTokenizer

    names = list(AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
                 .model_input_names)
    if "input_ids" not in names or "attention_mask" not in names:
        raise ConfigError(
            f"The tokenizer of {str(folder)!r} has inputs {names}; the onnx backend needs "
            f"input_ids and attention_mask, {_SWITCH_BACK}."
        )
    return names


# -- the model folder -----------------------------------------------------------------------


class _Layout:
    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.transformer_dir = model_dir
        self.max_seq_length: int | None = None
        self.max_position_embeddings: int | None = None
        self.dimension: int | None = None


def _read_json(path: Path) -> dict[str, Any] | list[Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"Cannot read {path} ({exc}); set ASKAI_EMBEDDER__MODEL to a complete model folder."
        ) from exc


def _read_layout(model_dir: Path) -> _Layout:
    """Check the folder is Transformer → mean Pooling (→ Normalize), the pipeline reproduced here.

    A plain transformers folder (no modules.json) is mean-pooled by sentence-transformers too."""
    layout = _Layout(model_dir)
    modules_file = model_dir / "modules.json"
    pooling_dir: Path | None = None
    if modules_file.is_file():
        modules = _read_json(modules_file)
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]  # type: ignore[union-attr]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            raise ConfigError(
                f"{model_dir} is a sentence-transformers pipeline of {kinds}; the onnx backend "
                f"reproduces only Transformer → Pooling (→ Normalize), {_SWITCH_BACK}."
            )
        layout.transformer_dir = model_dir / modules[0].get("path", "")  # type: ignore[index]
        pooling_dir = model_dir / modules[1].get("path", "")  # type: ignore[index]
    if pooling_dir is not None and (pooling_dir / "config.json").is_file():
        pooling = _read_json(pooling_dir / "config.json")
        assert isinstance(pooling, dict)
        if "pooling_mode" in pooling:
            modes = {str(pooling["pooling_mode"])}
        else:
            modes = {k.removeprefix("pooling_mode_") for k, v in pooling.items()
                     if k.startswith("pooling_mode_") and v is True}
        if modes not in ({"mean"}, {"mean_tokens"}):
            raise ConfigError(
                f"{model_dir} uses pooling {sorted(modes)}; the onnx backend does mean pooling "
                f"only, {_SWITCH_BACK}."
            )
        if pooling.get("word_embedding_dimension"):
            layout.dimension = int(pooling["word_embedding_dimension"])
    st_config = layout.transformer_dir / "sentence_bert_config.json"
    if st_config.is_file():
        value = _read_json(st_config)
        if isinstance(value, dict) and value.get("max_seq_length"):
            layout.max_seq_length = int(value["max_seq_length"])
    config = _read_json(layout.transformer_dir / "config.json")
    if isinstance(config, dict) and config.get("max_position_embeddings"):
        layout.max_position_embeddings = int(config["max_position_embeddings"])
    return layout


def _fingerprint(layout: _Layout) -> str:
    """Names the export after what it was made from, so another model is never served a stale
    export (the default model's folder is just called "model")."""
    recipe = f"askai-onnx-export-v{EXPORT_VERSION}-opset{OPSET}"
    digest = hashlib.sha256(recipe.encode())
    weights = [layout.transformer_dir / n for n in _WEIGHT_FILES
               if (layout.transformer_dir / n).is_file()]
    if not weights:
        raise ModelNotFoundError(
            f"{layout.transformer_dir} has no {' or '.join(_WEIGHT_FILES)}; set "
            "ASKAI_EMBEDDER__MODEL to a complete sentence-transformers model folder."
        )
    for path in [layout.transformer_dir / "config.json", *weights]:
        digest.update(path.name.encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


# -- building the files ---------------------------------------------------------------------


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` on a temp file beside ``target``, then rename it over ``target``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the ONNX model to {target.parent} ({exc}); set "
            "ASKAI_EMBEDDER__CACHE_DIR to a writable folder."
        ) from exc
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _export(transformer_dir: Path, input_names: list[str], target: Path) -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it, and says so less clearly)
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ConfigError(
            f"Exporting the embedder to ONNX needs the package onnx ({exc}): `pip install onnx`, "
            f"{_SWITCH_BACK}."
        ) from exc

    class _Encoder(torch.nn.Module):
        """Takes the tokenizer's tensors positionally and returns the token embeddings.

        It hands the model a ready 4D additive mask: transformers' own mask building is
        data-dependent Python that tracing would freeze to the example's shape."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            kwargs = dict(zip(input_names, inputs, strict=True))
            mask = kwargs["attention_mask"][:, None, None, :].to(torch.float32)
            kwargs["attention_mask"] = (1.0 - mask) * torch.finfo(torch.float32).min
            return self.model(**kwargs).last_hidden_state

    try:
        model = AutoModel.from_pretrained(
            str(transformer_dir), local_files_only=True, attn_implementation="eager"
        )
        # eval() on the wrapper: the exporter restores the wrapper's mode recursively afterwards.
        encoder = _Encoder(model).eval()
        # Any small ids do: the example only fixes the graph, both axes stay dynamic.
        ids = torch.tensor([[1, 5, 6, 7, 8, 2], [1, 9, 2, 0, 0, 0]])
        examples = {
            "input_ids": ids,
            "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]),
            "token_type_ids": torch.zeros_like(ids),
        }
        axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, _OUTPUT]}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and trace notes
            torch.onnx.export(
                encoder,
                tuple(examples[name] for name in input_names),
                str(target),
                input_names=input_names,
                output_names=[_OUTPUT],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
    except (ConfigError, ModelNotFoundError):
        raise
    except Exception as exc:
        raise ConfigError(
            f"Could not export the embedder {transformer_dir} to ONNX ({exc}); {_SWITCH_BACK}."
        ) from exc


def _quantize(source: Path, target: Path) -> None:
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ConfigError(
            f"The onnx-int8 backend needs the package onnx ({exc}): `pip install onnx`, "
            "or set ASKAI_EMBEDDER__BACKEND=onnx."
        ) from exc
    root = logging.getLogger()
    root.addFilter(_drop_preprocess_hint)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            # Per-channel scales and 7-bit ranges (no u8s8 overflow on CPUs without VNNI), and
            # the feed-forward down-projections kept in fp32: plain per-tensor int8 moved
            # all-MiniLM-L6-v2 vectors to cosine 0.87-0.97 of fp32; this recipe keeps ~0.99.
            per_channel=True,
            reduce_range=True,
            nodes_to_exclude=_down_projections(source),
        )
    finally:
        root.removeFilter(_drop_preprocess_hint)


def _drop_preprocess_hint(record: logging.LogRecord) -> bool:
    """quantize_dynamic logs "Please consider to run pre-processing" on every build."""
    return "pre-processing before quantization" not in record.getMessage()


def _down_projections(path: Path) -> list[str]:
    """MatMul nodes whose weight narrows its input (a feed-forward block's second layer): their
    inputs are post-GELU activations with a wide range, which int8 hurts most."""
    import onnx

    graph = onnx.load(str(path)).graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and len(shapes.get(node.input[1], [])) == 2
        and shapes[node.input[1]][0] > shapes[node.input[1]][1]
    ]
