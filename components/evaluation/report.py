"""Turns predictions into the evaluation report: per-class metrics, subsets, confusion matrix."""

import json
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


def _ablation(rows: Dict[str, List], index: List[int]) -> Dict:
    """Accuracy of these examples with their media and parsed again without them."""
    truth = [rows["intent"][i] for i in index]
    return {
        "examples": len(index),
        "accuracy_with_media": accuracy(truth, [rows["predicted"][i] for i in index]),
        "accuracy_without_media": accuracy(truth, [rows["ablation"][i] for i in index]),
    }


def voice_vs_text(rows: Dict[str, List]) -> Optional[Dict]:
    """Accuracy of the audio examples heard (voice only) and read (their text, no media)."""
    index = [i for i, subset in enumerate(rows["subset"]) if "voice" in subset]
    if not index:
        return None
    truth = [rows["intent"][i] for i in index]
    return {
        "examples": len(index),
        "accuracy_voice_only": accuracy(truth, [rows["voice_only"][i] for i in index]),
        "accuracy_text_only": accuracy(truth, [rows["ablation"][i] for i in index]),
        "transcripts": [
            {"text": rows["text"][i], "heard": rows["voice_transcript"][i], "language": rows["voice_language"][i],
             "intent": rows["intent"][i],
             "voice_only": rows["voice_only"][i], "text_only": rows["ablation"][i]}
            for i in index
        ],
    }


def screenshots_read(rows: Dict[str, List]) -> List[Dict]:
    """What the model read in each example's picture (OCR text and the order number it found)."""
    return [
        {"image": rows["image_source"][i], "text": rows["text"][i], "intent": rows["intent"][i],
         "image_text": rows["image_text"][i],
         "order_number": rows["order_number"][i]}
        for i, subset in enumerate(rows["subset"]) if "image" in subset and rows["image_text"][i]
    ]


def report_section(rows: Dict[str, List], confusion_path: Path) -> Dict:
    """Every metric of one test set; writes its confusion-matrix heat map to ``confusion_path``."""
    truth, predicted = rows["intent"], rows["predicted"]
    labelled = [i for i, s in enumerate(rows["sentiment"]) if s]
    media = [i for i, a in enumerate(rows["ablation"]) if rows["subset"][i] != "text_only"]
    section = {
        "examples": len(truth),
        "intent": classification_report(truth, predicted),
        "sentiment": classification_report(
            [rows["sentiment"][i] for i in labelled], [rows["predicted_sentiment"][i] for i in labelled]
        ) if labelled else None,
        "modality_subsets": subset_accuracies(rows["subset"], truth, predicted),
        "text_only_ablation": {
            **_ablation(rows, media),
            "by_subset": {
                name: _ablation(rows, [i for i in media if rows["subset"][i] == name])
                for name in sorted({rows["subset"][i] for i in media})
            },
        } if media else None,
        "voice_vs_text": voice_vs_text(rows),
        "screenshots_read": screenshots_read(rows),
        "errors": [
            {"text": rows["text"][i], "intent": truth[i], "predicted": predicted[i]}
            for i in range(len(truth)) if truth[i] != predicted[i]
        ],
    }
    confusion_png(truth, predicted, confusion_path, f"Intent confusion ({len(truth)} examples)")
    return section


def build_report(rows: Dict[str, List], out: Path, meta: Dict) -> Dict:
    """Writes ``report.json`` and ``confusion_matrix.png`` to ``out`` from one test set's rows."""
    out.mkdir(parents=True, exist_ok=True)
    report = {**meta, **report_section(rows, out / "confusion_matrix.png")}
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def build_sets_report(rows_by_set: Dict[str, Dict[str, List]], out: Path, meta: Dict) -> Dict:
    """Several test sets side by side: ``report.json`` holds one section per set under ``sets``
    (the same metrics as a single-set report), each with ``confusion_matrix_<set>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    report = {
        **meta,
        "sets": {name: report_section(rows, out / f"confusion_matrix_{name}.png") for name, rows in rows_by_set.items()},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report
