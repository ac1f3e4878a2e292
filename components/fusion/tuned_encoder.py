"""The classifier's own trainable copy of the sentence encoder, for end-to-end fine-tuning.

The shared encoder in ``components.text.encoder`` is frozen and used by every component in the
process; fine-tuning must never change it, so the classifier loads a private copy, tunes it with
the fusion network (pretrain, then fine-tune) and saves it with the model as safetensors. Training runs on torch; once the weights are final (after
training, after load) ``prepare_inference`` exports them to ONNX Runtime where
``components.text.onnx_encoder`` allows it, and ``encode`` uses that until training resumes.
``prepare_inference(int8=True)`` adds an int8 copy of those weights for ``encode``: the classifier
asks for it only when its hold-out showed the copy keeps accuracy (``components.fusion.training``).
The int8 graph the hold-out chose is saved beside the weights (``INT8_GRAPH_FILE``), so a load
serves exactly that graph without quantizing again; a model saved without it is quantized at load.
"""

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from components.text.encoder import open_sentence_transformer
from components.text.onnx_encoder import OnnxSentenceModel, accelerate, l2_normalize, load_int8

ENCODER_DIR = "encoder"
INT8_GRAPH_FILE = "encoder_int8.onnx"
LABEL = "fine-tuned copy"


class TunedTextEncoder(nn.Module):
    """Text -> sentence vector plus presence flag (the featurizer's layout), with gradients."""

    def __init__(self, path: Path, max_length: int = 64) -> None:
        super().__init__()
        self.model, self.dimension = open_sentence_transformer(path)
        self.max_length = int(max_length)
        self._onnx: Optional[OnnxSentenceModel] = None
        self._int8: Optional[OnnxSentenceModel] = None
        self._int8_on = False

    @property
    def backend(self) -> str:
        """What ``encode`` runs on: "onnx-int8", "onnx" (ONNX Runtime, frozen weights) or "torch"."""
        if self._int8_on:
            return "onnx-int8"
        return "onnx" if self._onnx is not None else "torch"

    def prepare_inference(self, int8: bool = False, keep_float: bool = True) -> None:
        """Freezes the current weights into an ONNX Runtime session (per the backend setting),
        and with ``int8`` into an int8 one too, which ``encode`` then uses where it could be built.
        ``keep_float=False`` drops the float session once the int8 one serves (MiniLM's float graph
        is 90 MB, the int8 one 23 MB); ``use_int8(False)`` then runs torch."""
        self.eval()
        self._onnx = accelerate(self.model, LABEL, keep_graph=int8)
        # The int8 graph stays in memory while the float session does (training): ``save`` writes it.
        self._int8 = self._onnx.int8_copy(self.model, LABEL, keep_graph=keep_float) if int8 and self._onnx is not None else None
        self._int8_on = self._int8 is not None
        if self._int8_on and not keep_float:
            self._onnx = None

    def use_int8(self, on: bool) -> None:
        """Switches ``encode`` between the int8 copy (if ``prepare_inference`` built one) and float."""
        self._int8_on = bool(on) and self._int8 is not None

    def train(self, mode: bool = True) -> "TunedTextEncoder":
        """Training changes the weights, so the ONNX Runtime copies of them are dropped."""
        if mode:
            self._onnx = self._int8 = None
            self._int8_on = False
        return super().train(mode)

    def load_state_dict(self, *args, **kwargs):
        """New weights: the ONNX Runtime copies of the old ones are dropped."""
        self._onnx = self._int8 = None
        self._int8_on = False
        return super().load_state_dict(*args, **kwargs)

    def _tokenize(self, texts: Sequence[str], tensors: str):
        return self.model.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors=tensors
        )

    @property
    def width(self) -> int:
        return self.dimension + 1

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, dimension + 1); empty texts give all zeros (flag 0), like the featurizer."""
        out = torch.zeros(len(texts), self.width)
        index = [i for i, text in enumerate(texts) if text and text.strip()]
        if not index:
            return out
        batch = self._tokenize([texts[i] for i in index], "pt")
        vectors = nn.functional.normalize(self.model.forward(dict(batch))["sentence_embedding"], dim=-1)
        rows = torch.tensor(index)
        flags = torch.ones(len(index), 1)
        return out.index_put((rows,), torch.cat([vectors, flags], dim=1))

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Inference in batches, sorted by length so little time goes into padding."""
        order = np.argsort([len(t or "") for t in texts], kind="stable")
        result = np.zeros((len(texts), self.width), dtype=np.float32)
        session = self._int8 if self._int8_on else self._onnx
        if session is not None:
            for start in range(0, len(order), batch_size):
                rows = [i for i in order[start : start + batch_size] if texts[i] and texts[i].strip()]
                if rows:
                    result[rows, : self.dimension] = self._encode_onnx(session, [texts[i] for i in rows])
                    result[rows, self.dimension] = 1.0
            return result
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                result[rows] = self.forward([texts[i] for i in rows]).numpy()
        self.train(was_training)
        return result

    def _encode_onnx(self, session: OnnxSentenceModel, texts: List[str]) -> np.ndarray:
        """``forward``'s sentence vectors on ONNX Runtime (same tokenization, pooling, normalising)."""
        batch = self._tokenize(texts, "np")
        tokens = session.token_embeddings(batch["input_ids"], batch["attention_mask"])
        return l2_normalize(session.sentence_embeddings(tokens, batch["attention_mask"]))

    def save(self, directory: Path) -> None:
        """Writes a sentence-transformers folder (safetensors weights, tokenizer, config), and the
        int8 graph beside it when one serves (~23 MB for MiniLM)."""
        self.model.save(str(directory / ENCODER_DIR), safe_serialization=True)
        if self._int8_on and self._int8.graph is not None:
            (directory / INT8_GRAPH_FILE).write_bytes(self._int8.graph)

    @classmethod
    def load(cls, directory: Path, max_length: int, int8: bool = False) -> "TunedTextEncoder":
        """The saved copy, ready for inference (on ONNX Runtime where allowed; int8 if asked: the
        saved int8 graph where there is a usable one, else quantized from the weights now)."""
        encoder = cls(directory / ENCODER_DIR, max_length)
        saved = directory / INT8_GRAPH_FILE
        if int8 and saved.is_file():
            encoder.eval()
            encoder._int8 = load_int8(encoder.model, LABEL, saved.read_bytes())
            encoder._int8_on = encoder._int8 is not None
            if encoder._int8_on:
                return encoder
        encoder.prepare_inference(int8, keep_float=False)
        return encoder


def length_bucketed_batches(
    texts: List[str], rows: np.ndarray, batch_size: int, generator: torch.Generator
) -> List[np.ndarray]:
    """Shuffled batches of similar-length texts: less padding, so fine-tuning runs faster on CPU."""
    order = rows[torch.randperm(len(rows), generator=generator).numpy()]
    chunk = batch_size * 50
    batches: List[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort([len(texts[i]) for i in part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).numpy()
    return [batches[i] for i in shuffle]
