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

    A PIL image is passed (never a string, which RapidOCR would treat as a path or URL).
    """
    result = engine(image)
    texts = getattr(result, "txts", None) or ()
    scores = getattr(result, "scores", None) or ()
    return [
        TextLine(text=str(text).strip(), confidence=float(score))
        for text, score in zip(texts, scores)
        if str(text).strip()
    ]
