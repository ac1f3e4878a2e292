"""From gathered features to the network's inputs and answers, for training and prediction alike.

Training's validation and the classifier's ``process`` must feed the network the same way; both
use this module, so neither the classifier nor its users import the training code to predict.
"""

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
import torch

from components.fusion.features import FeatureMatrix
from components.fusion.model import FusionNet


@dataclass(frozen=True)
class Prediction:
    """Per message: intent and sentiment probabilities, modality weights, which modalities it had."""

    intent: np.ndarray  # (N, intents), rows sum to 1
    sentiment: np.ndarray  # (N, sentiment labels), rows sum to 1
    modality_weights: np.ndarray  # (N, modalities), rows sum to 1 over the present ones
    present: np.ndarray  # bool (N, modalities)


def to_tensors(features: FeatureMatrix) -> Tuple[List[object], torch.Tensor]:
    """Torch inputs: dense tensors, and (indices, offsets, weights) for sparse CSR rows."""
    inputs: List[object] = []
    for values in features.values:
        if hasattr(values, "indptr"):
            inputs.append(
                (
                    torch.from_numpy(values.indices.astype(np.int64)),
                    torch.from_numpy(values.indptr[:-1].astype(np.int64)),
                    torch.from_numpy(values.data.astype(np.float32)),
                )
            )
        else:
            inputs.append(torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)))
    return inputs, torch.from_numpy(features.present)


def predict(model: FusionNet, features: FeatureMatrix) -> Prediction:
    """The trained network's answer for a batch of messages (no gradients)."""
    inputs, present = to_tensors(features)
    with torch.inference_mode():
        intent_logits, sentiment_logits, weights = model(inputs, present)
        return Prediction(
            intent=torch.softmax(intent_logits, dim=-1).numpy(),
            sentiment=torch.softmax(sentiment_logits, dim=-1).numpy(),
            modality_weights=weights.numpy(),
            present=present.numpy(),
        )
