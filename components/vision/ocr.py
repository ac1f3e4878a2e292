"""The shared RapidOCR engine (PP-OCR ONNX models for Chinese + English inside the package).

One engine per thread count per process: ONNX Runtime sessions are thread-safe for inference,
so every ImageTextReader instance and every conversation share it.
"""

import logging
import threading
from dataclasses import dataclass
from typing import Any, Dict, List

from PIL import Image
from rasa.shared.exceptions import InvalidConfigException

logger = logging.getLogger(__name__)

_ENGINES: Dict[int, Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TextLine:
    """One line of text the OCR read, with the recogniser's confidence (0..1)."""

    text: str
    confidence: float


# Longest side an image is shrunk to before OCR. RapidOCR's text detector runs at the image's own
# size: measured here, one 2048-px image grew the process by 538 MB, a 1280-px one by 166 MB.
# Screenshots and receipts stay legible at 1280 (a phone screenshot's text lines are about half
# their height), and a 40-megapixel photo no longer costs gigabytes.
OCR_MAX_SIDE = 1280
# RapidOCR scales an image so its SHORTER side reaches the detector's size: a 1280 x 1 strip
# would become about 940,000 x 736 pixels and exhaust memory. Thinner or more elongated images
# than these are not read (they hold no legible line of text).
OCR_MIN_SIDE = 8
OCR_MAX_ASPECT = 20.0

def load_ocr_engine(num_threads: int) -> Any:
    """The RapidOCR engine using ``num_threads`` CPU threads, created on first use."""
    with _LOCK:
        engine = _ENGINES.get(num_threads)
        if engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise InvalidConfigException(
                    "ImageTextReader needs the package `rapidocr` (with onnxruntime); install "
                    "rapidocr==3.10.0."
                ) from exc
            engine = RapidOCR(
                params={
                    "Global.log_level": "warning",
                    "EngineConfig.onnxruntime.intra_op_num_threads": num_threads,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
            _ENGINES[num_threads] = engine
            logger.info("ImageTextReader: OCR engine ready (%d threads)", num_threads)
        return engine


def read_lines(engine: Any, image: Image.Image) -> List[TextLine]:
    """Text lines of an RGB image in reading order (top to bottom), unfiltered.

    A PIL image is passed (never a string, which RapidOCR would treat as a path or URL). Raises
    ValueError for an image too thin or elongated to hold text (see ``OCR_MAX_ASPECT``).
    """
    short, long = sorted(image.size)
    if short < OCR_MIN_SIDE or long / short > OCR_MAX_ASPECT:
        raise ValueError(f"an image of {image.size[0]}x{image.size[1]} pixels is too thin to read")
    result = engine(image)
    texts = getattr(result, "txts", None) or ()
    scores = getattr(result, "scores", None) or ()
    return [
        TextLine(text=str(text).strip(), confidence=float(score))
        for text, score in zip(texts, scores)
        if str(text).strip()
    ]
