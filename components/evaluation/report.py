"""Turns predictions into the evaluation report: per-class metrics, subsets, confusion matrix."""

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np


def classification_report(truth: Sequence[str], predicted: Sequence[Optional[str]]) -> Dict:
    """Precision, recall, F1 and support per label, plus accuracy and macro/weighted averages."""
    from sklearn.metrics import classification_report as sk_report

    labels = sorted(set(truth))
    predicted = [p if p is not None else "<none>" for p in predicted]
    report = sk_report(truth, predicted, labels=labels, output_dict=True, zero_division=0)
    report["accuracy"] = float(np.mean([t == p for t, p in zip(truth, predicted)])) if truth else 0.0
    report.pop("micro avg", None)
    return report


def accuracy(truth: Sequence[str], predicted: Sequence[Optional[str]]) -> Optional[float]:
    return round(float(np.mean([t == p for t, p in zip(truth, predicted)])), 4) if truth else None


def confusion_png(truth: Sequence[str], predicted: Sequence[Optional[str]], path: Path, title: str) -> Path:
    """Writes a labelled confusion-matrix heat map (rows: true, columns: predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    predicted = [p if p is not None else "<none>" for p in predicted]
    labels = sorted(set(truth) | set(predicted))
    matrix = confusion_matrix(truth, predicted, labels=labels)
    size = max(6.0, 0.35 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def modality_subset(metadata: Dict) -> str:
    """Which media an example carries: text only, with image, with voice (or both)."""
    kinds = {str(a.get("type", "")).lower() for a in metadata.get("attachments") or [] if isinstance(a, dict)}
    if "image" in kinds and "audio" in kinds:
        return "with_image_and_voice"
    if "image" in kinds:
        return "with_image"
    if "audio" in kinds:
        return "with_voice"
    return "text_only"


def subset_accuracies(subsets: List[str], truth: Sequence[str], predicted: Sequence[Optional[str]]) -> Dict:
    result = {}
    for name in sorted(set(subsets)):
        index = [i for i, s in enumerate(subsets) if s == name]
        result[name] = {"examples": len(index), "accuracy": accuracy([truth[i] for i in index], [predicted[i] for i in index])}
    return result
