"""Seeded, deterministic training of the fusion network on CPU.

AdamW, class-balanced label-smoothed cross-entropy for intents, a masked sentiment loss (examples
without a sentiment label do not count), modality dropout so each modality alone still works, and
early stopping on a stratified validation split.
"""

import logging
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from components.fusion.features import FeatureMatrix
from components.fusion.model import FusionNet

logger = logging.getLogger(__name__)

IGNORE = -100


@dataclass
class TrainingReport:
    epochs_run: int
    best_epoch: int
    best_validation_accuracy: Optional[float]
    seconds: float

    def as_dict(self) -> Dict:
        return self.__dict__.copy()


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


def _optimizers(model: FusionNet, config: Dict) -> List[torch.optim.Optimizer]:
    """AdamW for dense weights; SparseAdam for the sparse n-gram tables (sparse gradients)."""
    sparse = [p for m in model.modules() if isinstance(m, nn.EmbeddingBag) for p in m.parameters()]
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if id(p) not in sparse_ids]
    learning_rate = float(config["learning_rate"])
    optimizers: List[torch.optim.Optimizer] = [
        torch.optim.AdamW(dense, lr=learning_rate, weight_decay=float(config["weight_decay"]))
    ]
    if sparse:
        optimizers.append(torch.optim.SparseAdam(sparse, lr=learning_rate))
    return optimizers


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Holds out ``fraction`` of every class with at least 3 examples; the rest trains."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        rng.shuffle(index)
        n_val = int(round(len(index) * fraction)) if len(index) >= 3 else 0
        n_val = min(max(n_val, 1 if len(index) >= 3 and fraction > 0 else 0), len(index) - 1)
        validation.extend(index[:n_val])
        train.extend(index[n_val:])
    return np.sort(np.array(train, dtype=int)), np.sort(np.array(validation, dtype=int))


def class_weights(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights (mean 1) so rare intents are not drowned by common ones."""
    valid = labels[labels != IGNORE]
    counts = np.bincount(valid, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / max((counts > 0).sum(), 1), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _drop_modalities(present: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Randomly hides present modalities, always keeping at least one per example."""
    if rate <= 0 or present.shape[1] < 2:
        return present
    keep = torch.rand(present.shape, generator=generator) >= rate
    dropped = present & keep
    empty = ~dropped.any(dim=1)
    dropped[empty] = present[empty]
    return dropped


def train_model(
    model: FusionNet,
    features: FeatureMatrix,
    intents: np.ndarray,
    sentiments: np.ndarray,
    config: Dict,
) -> TrainingReport:
    """Trains in place and leaves the best validation weights in the model."""
    started = time.perf_counter()
    seed = int(config["random_seed"])
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)

    train_index, val_index = stratified_split(intents, float(config["validation_fraction"]), seed)
    if len(val_index) < 2:
        train_index, val_index = np.arange(len(intents)), np.array([], dtype=int)

    n_intents = model.intent_head[-1].out_features
    n_sentiments = model.sentiment_head[-1].out_features
    balanced = bool(config["class_balanced"])
    intent_loss = nn.CrossEntropyLoss(
        weight=class_weights(intents[train_index], n_intents) if balanced else None,
        label_smoothing=float(config["label_smoothing"]),
    )
    has_sentiment = bool((sentiments[train_index] != IGNORE).any())
    sentiment_loss = nn.CrossEntropyLoss(
        weight=class_weights(sentiments[train_index], n_sentiments) if balanced and has_sentiment else None,
        ignore_index=IGNORE,
        label_smoothing=float(config["label_smoothing"]),
    )
    optimizers = _optimizers(model, config)
    epochs = int(config["epochs"])
    batch_size = int(config["batch_size"])
    patience = int(config["patience"])

    train_features = features.rows(train_index)
    y_intent = torch.from_numpy(intents[train_index]).long()
    y_sentiment = torch.from_numpy(sentiments[train_index]).long()
    validation = (features.rows(val_index), intents[val_index]) if len(val_index) else None

    best_accuracy, best_loss, best_epoch, best_state = -1.0, float("inf"), 0, None
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train_index), generator=generator).numpy()
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            inputs, present = to_tensors(train_features.rows(rows))
            present = _drop_modalities(present, float(config["modality_dropout"]), generator)
            intent_logits, sentiment_logits, _ = model(inputs, present)
            loss = intent_loss(intent_logits, y_intent[rows])
            if has_sentiment and (y_sentiment[rows] != IGNORE).any():
                loss = loss + float(config["sentiment_loss_weight"]) * sentiment_loss(
                    sentiment_logits, y_sentiment[rows]
                )
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()

        if validation is None:
            continue
        accuracy, val_loss = _evaluate(model, validation[0], validation[1], intent_loss, batch_size)
        logger.debug("epoch %d: validation accuracy %.4f loss %.4f", epoch, accuracy, val_loss)
        if accuracy > best_accuracy or (accuracy == best_accuracy and val_loss < best_loss):
            best_accuracy, best_loss, best_epoch = accuracy, val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainingReport(
        epochs_run=epoch,
        best_epoch=best_epoch or epoch,
        best_validation_accuracy=best_accuracy if validation is not None else None,
        seconds=time.perf_counter() - started,
    )


def _evaluate(
    model: FusionNet, features: FeatureMatrix, labels: np.ndarray, loss_fn: nn.Module, batch_size: int
) -> Tuple[float, float]:
    model.eval()
    correct, total_loss = 0, 0.0
    with torch.inference_mode():
        for start in range(0, len(labels), batch_size):
            rows = np.arange(start, min(start + batch_size, len(labels)))
            inputs, present = to_tensors(features.rows(rows))
            logits, _, _ = model(inputs, present)
            target = torch.from_numpy(labels[rows]).long()
            total_loss += float(loss_fn(logits, target)) * len(rows)
            correct += int((logits.argmax(dim=1) == target).sum())
    return correct / len(labels), total_loss / len(labels)
