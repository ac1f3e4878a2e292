"""The classifier's own trainable copy of the sentence encoder, for end-to-end fine-tuning.

The shared encoder in ``components.text.encoder`` is frozen and used by every component in the
process; fine-tuning must never change it, so the classifier loads a private copy, tunes it with
the fusion network (pretrain, then fine-tune) and saves it with the model as safetensors.
"""

from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch
from torch import nn

from components.text.encoder import open_sentence_transformer

ENCODER_DIR = "encoder"


class TunedTextEncoder(nn.Module):
    """Text -> sentence vector plus presence flag (the featurizer's layout), with gradients."""

    def __init__(self, path: Path, max_length: int = 64) -> None:
        super().__init__()
        self.model, self.dimension = open_sentence_transformer(path)
        self.max_length = int(max_length)

    @property
    def width(self) -> int:
        return self.dimension + 1

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, dimension + 1); empty texts give all zeros (flag 0), like the featurizer."""
        out = torch.zeros(len(texts), self.width)
        index = [i for i, text in enumerate(texts) if text and text.strip()]
        if not index:
            return out
        batch = self.model.tokenizer(
            [texts[i] for i in index],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        vectors = nn.functional.normalize(self.model.forward(dict(batch))["sentence_embedding"], dim=-1)
        rows = torch.tensor(index)
        flags = torch.ones(len(index), 1)
        return out.index_put((rows,), torch.cat([vectors, flags], dim=1))

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Inference in batches, sorted by length so little time goes into padding."""
        was_training = self.training
        self.eval()
        order = np.argsort([len(t or "") for t in texts], kind="stable")
        result = np.zeros((len(texts), self.width), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                result[rows] = self.forward([texts[i] for i in rows]).numpy()
        self.train(was_training)
        return result

    def save(self, directory: Path) -> None:
        """Writes a sentence-transformers folder (safetensors weights, tokenizer, config)."""
        self.model.save(str(directory / ENCODER_DIR), safe_serialization=True)

    @classmethod
    def load(cls, directory: Path, max_length: int) -> "TunedTextEncoder":
        return cls(directory / ENCODER_DIR, max_length)


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
