"""Text in images, offline: RapidOCR (PaddleOCR's PP-OCRv4 detection and recognition models,
run by onnxruntime; the models ship inside the ``rapidocr_onnxruntime`` wheel, nothing is
downloaded). Used for the pages of a PDF that have no text layer (scans) and for image files.

Recognised lines are put back into paragraphs by their layout: top to bottom, a line joins the
one above it when the gap between them is less than a line's height and it starts near the same
left edge; a word hyphenated at a line end is joined.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askai.errors import IngestError
from askai.ingest.structure import LoadedDocument, TextBuilder

MIN_SCORE = 0.5  # recognition confidence below which a line is dropped (noise, stray marks)
MAX_SIDE = 3600  # pixels: larger images are scaled down first (detection time grows with area)
NO_TEXT = "no text found: it is an image (or a scan) in which OCR recognised no text"
OCR_OFF = "OCR is off (setting ingest.ocr, ASKAI_INGEST__OCR=false)"

_engine: Any = None
_lock = threading.Lock()


@dataclass(frozen=True)
class _Line:
    text: str
    x0: float
    top: float
    bottom: float


def _ocr(path: Path | str) -> Any:
    global _engine
    if _engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise IngestError(path, f"cannot be read: OCR needs the rapidocr_onnxruntime "
                              f"package ({exc}); install askai's dependencies again") from exc
        # no text-direction classifier: scans are upright, and it costs a third of the time;
        # text boxes grown a little more than the default (1.6): with tight boxes the
        # recogniser drops the spaces between words ("Thecellarholds412barrels")
        _engine = RapidOCR(use_cls=False, det_unclip_ratio=2.0)
    return _engine


def paragraphs(image: Any, path: Path | str = "") -> list[str]:
    """The paragraphs of text OCR finds in a PIL image, in reading order (``path``: the file it
    is from, for errors)."""
    import numpy as np

    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    with _lock:  # one recognition at a time: the engine is not documented as thread-safe
        found, _ = _ocr(path)(np.array(image))
    lines = [
        _Line(" ".join(str(text).split()), min(p[0] for p in box), min(p[1] for p in box),
              max(p[1] for p in box))
        for box, text, score in (found or []) if float(score) >= MIN_SCORE and str(text).strip()
    ]
    lines.sort(key=lambda ln: (ln.top, ln.x0))
    out: list[list[_Line]] = []
    for ln in lines:
        if out:
            prev = out[-1][-1]
            height = prev.bottom - prev.top
            if 0 <= ln.top - prev.bottom < height and abs(ln.x0 - out[-1][0].x0) < 2 * height:
                out[-1].append(ln)
                continue
        out.append([ln])
    from askai.ingest.pdf import reflow

    return [reflow([ln.text for ln in para]) for para in out]


def load_image(path: Path, data: bytes) -> LoadedDocument:
    """An image file's text, by OCR; its location is marked ``image (OCR)``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            found = paragraphs(image, path)
    except Image.DecompressionBombError as exc:
        raise IngestError(path, f"is refused: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise IngestError(path, f"is not a readable image ({exc}); it may be corrupt") from exc
    if not found:
        raise IngestError(path, NO_TEXT)
    builder = TextBuilder()
    builder.locate("image", note="OCR")
    for para in found:
        builder.block(para)
    return builder.document("")
