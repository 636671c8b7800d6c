"""Small helpers shared by the bench scripts: paths, the eval questions, the python3-doc file
list, percentiles, JSON output and a llama-index embedding wrapping askai's embedder."""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHIPPED_CORPUS = ROOT / "ingest" / "corpus"
PYTHON_DOC = Path("/usr/share/doc/python3.11/html")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def eval_items() -> list[dict[str, Any]]:
    """The rows of eval/questions.jsonl, in file order."""
    path = ROOT / "eval" / "questions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def spread(items: list[Any], n: int) -> list[Any]:
    """``n`` items spaced evenly through ``items`` (all of them if ``n`` >= their number)."""
    if n >= len(items):
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


def python_doc_files(root: Path = PYTHON_DOC) -> list[Path]:
    """The .html files of the python3-doc tree, sorted by relative path; like askai's own file
    discovery, hidden and ``_``-prefixed folders and files (_static, _sources, ...) are skipped."""
    if not root.is_dir():
        raise SystemExit(f"{root} is missing; install Debian's python3-doc (apt-get install "
                         "python3.11-doc)")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            if name.endswith(".html") and not name.startswith((".", "_")):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def percentiles(values: list[float], scale: float = 1.0, digits: int = 2) -> dict[str, float]:
    """p50, p95, mean, min and max of ``values`` (times ``scale``), rounded."""
    arr = np.asarray(values, dtype=np.float64) * scale
    if arr.size == 0:
        return {}
    return {
        "n": int(arr.size),
        "p50": round(float(np.percentile(arr, 50)), digits),
        "p95": round(float(np.percentile(arr, 95)), digits),
        "mean": round(float(arr.mean()), digits),
        "min": round(float(arr.min()), digits),
        "max": round(float(arr.max()), digits),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "load_average_at_start": [round(x, 2) for x in load],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def minilm_token_counter() -> Any:
    """A function counting MiniLM (all-MiniLM-L6-v2) tokens of a text, special tokens left out and
    nothing truncated, whatever embedder askai is configured with."""
    from transformers import AutoTokenizer

    from askai.index.embedder import default_model_dir

    tok = AutoTokenizer.from_pretrained(str(default_model_dir()), local_files_only=True)
    return lambda text: len(tok.encode(text, add_special_tokens=False, verbose=False))


def embedder_settings() -> Any:
    """askai's embedder settings as configured (``ASKAI_EMBEDDER__*`` environment variables,
    ``ASKAI_CONFIG``, defaults), so a bench embeds the way the app would."""
    from askai.settings import load_settings

    return load_settings().embedder
