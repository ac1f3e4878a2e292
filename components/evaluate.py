"""Evaluate an NLU pipeline on your own data: ``python -m components.evaluate``.

Trains with ``rasa train nlu`` on a training part and parses the held-out part through the real
pipeline, then writes ``report.json`` (precision/recall/F1 per intent and per sentiment class,
accuracy per modality subset, and a text-only ablation for examples that carry media) and
``confusion_matrix.png`` to the output folder.

    python -m components.evaluate --nlu data/ --config config.yml --out results/evaluation
    python -m components.evaluate --nlu data/ --test-nlu data/test/ --out results/evaluation
    python -m components.evaluate --nlu data/ --folds 5 --out results/evaluation
    python -m components.evaluate --model models/assistant.tar.gz --test-nlu tests/data/heldout.yml

``--model`` skips training and parses the test set with an already trained model. Test examples
with audio are also parsed voice-only (empty text + the clip) and text-only (the written text, no
attachments): the report's ``voice_vs_text`` compares the two.
"""

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from components.constants import ATTACHMENTS
from components.evaluation.report import (
    accuracy,
    classification_report,
    confusion_png,
    modality_subset,
    subset_accuracies,
)
from components.evaluation.runner import ModelParser, quiet_logs, train_nlu_model
from components.message_metadata import message_metadata

logger = logging.getLogger(__name__)


def _load(path: Path):
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    if not data.intent_examples:
        raise SystemExit(f"No intent examples found in {path}.")
    return data


def _with_examples(data, examples):
    from rasa.shared.nlu.training_data.training_data import TrainingData

    return TrainingData(
        training_examples=list(examples),
        entity_synonyms=data.entity_synonyms,
        regex_features=data.regex_features,
        lookup_tables=data.lookup_tables,
    )


def splits(data, test_data, test_fraction: float, folds: int, seed: int) -> List[Tuple[object, object]]:
    """(train, test) pairs: a given test set, K stratified folds, or one stratified split."""
    if test_data is not None:
        return [(data, test_data)]
    from sklearn.model_selection import StratifiedKFold, train_test_split

    examples = data.intent_examples
    labels = [e.get("intent") for e in examples]
    if folds > 1:
        kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [
            (_with_examples(data, [examples[i] for i in tr]), _with_examples(data, [examples[i] for i in te]))
            for tr, te in kfold.split(np.zeros(len(labels)), labels)
        ]
    train, test = train_test_split(examples, test_size=test_fraction, stratify=labels, random_state=seed)
    return [(_with_examples(data, train), _with_examples(data, test))]


def evaluate(train_data, test_data, config: Path, work: Path, name: str) -> Dict[str, List]:
    """Trains on one part, parses the other (and its media-less ablation)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter

    nlu_path = work / f"{name}-train.yml"
    nlu_path.write_text(RasaYAMLWriter().dumps(train_data), encoding="utf-8")
    model = train_nlu_model(config, nlu_path, work / "models", name)
    return evaluate_model(model, test_data)


def evaluate_model(model: Path, test_data) -> Dict[str, List]:
    """Parses every test example with a trained model; media examples also without their media,
    audio examples also voice-only (empty text + the clip)."""
    parser = ModelParser(model)
    rows: Dict[str, List] = {k: [] for k in ROW_KEYS}
    try:
        for example in test_data.intent_examples:
            metadata = message_metadata(example)
            text = example.get("text")
            parsed = parser.parse(text, metadata or None)
            rows["text"].append(text)
            rows["intent"].append(example.get("intent"))
            rows["predicted"].append(parsed.intent)
            rows["sentiment"].append(metadata.get("sentiment"))
            rows["predicted_sentiment"].append(parsed.sentiment)
            rows["subset"].append(modality_subset(metadata))
            attachments = metadata.get(ATTACHMENTS) or []
            without = {k: v for k, v in metadata.items() if k != ATTACHMENTS}
            rows["ablation"].append(parser.parse(text, without or None).intent if attachments else None)
            audio = [a for a in attachments if isinstance(a, dict) and a.get("type") == "audio"]
            if audio:
                voice = parser.parse("", {**without, ATTACHMENTS: audio})
                rows["voice_only"].append(voice.intent)
                rows["voice_transcript"].append((voice.parse.get("transcript") or {}).get("text"))
            else:
                rows["voice_only"].append(None)
                rows["voice_transcript"].append(None)
    finally:
        parser.close()
    return rows


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
            {"text": rows["text"][i], "heard": rows["voice_transcript"][i], "intent": rows["intent"][i],
             "voice_only": rows["voice_only"][i], "text_only": rows["ablation"][i]}
            for i in index
        ],
    }


ROW_KEYS = (
    "text", "intent", "predicted", "sentiment", "predicted_sentiment", "subset", "ablation",
    "voice_only", "voice_transcript",
)


def _ablation(rows: Dict[str, List], index: List[int]) -> Dict:
    """Accuracy of these examples with their media and parsed again without them."""
    truth = [rows["intent"][i] for i in index]
    return {
        "examples": len(index),
        "accuracy_with_media": accuracy(truth, [rows["predicted"][i] for i in index]),
        "accuracy_without_media": accuracy(truth, [rows["ablation"][i] for i in index]),
    }


def build_report(rows: Dict[str, List], out: Path, meta: Dict) -> Dict:
    truth, predicted = rows["intent"], rows["predicted"]
    labelled = [i for i, s in enumerate(rows["sentiment"]) if s]
    media = [i for i, a in enumerate(rows["ablation"]) if rows["subset"][i] != "text_only"]
    report = {
        **meta,
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
        "errors": [
            {"text": rows["text"][i], "intent": truth[i], "predicted": predicted[i]}
            for i in range(len(truth)) if truth[i] != predicted[i]
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    confusion_png(truth, predicted, out / "confusion_matrix.png", f"Intent confusion ({len(truth)} examples)")
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nlu", type=Path, default=Path("data"), help="training data (file or folder)")
    parser.add_argument("--config", type=Path, default=Path("config.yml"))
    parser.add_argument("--test-nlu", type=Path, help="held-out test data; otherwise split --nlu")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--folds", type=int, default=1, help="K-fold cross-validation when > 1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("results/evaluation"))
    parser.add_argument("--model", type=Path, help="trained model (.tar.gz): no training; needs --test-nlu")
    args = parser.parse_args(argv)
    quiet_logs()

    test_data = _load(args.test_nlu) if args.test_nlu else None
    if args.model:
        if test_data is None:
            raise SystemExit("--model needs --test-nlu: a trained model can only be tested on held-out data.")
        if not args.model.is_file():
            raise SystemExit(f"No trained model at {args.model}.")
        rows = evaluate_model(args.model, test_data)
    else:
        data = _load(args.nlu)
        rows = {}
        with tempfile.TemporaryDirectory(prefix="rasa-evaluate-") as tmp:
            for index, (train, test) in enumerate(splits(data, test_data, args.test_fraction, args.folds, args.seed)):
                part = evaluate(train, test, args.config, Path(tmp), f"fold{index}")
                for key, values in part.items():
                    rows.setdefault(key, []).extend(values)
    meta = {"config": str(args.config), "nlu": str(args.nlu), "test_nlu": str(args.test_nlu) if args.test_nlu else None,
            "folds": args.folds, "model": str(args.model) if args.model else None}
    report = build_report(rows, args.out, meta)
    print(f"intent accuracy {report['intent']['accuracy']:.4f}, macro F1 {report['intent']['macro avg']['f1-score']:.4f} "
          f"on {report['examples']} examples")
    for name, subset in report["modality_subsets"].items():
        print(f"  {name}: {subset['accuracy']} ({subset['examples']} examples)")
    if report["text_only_ablation"]:
        ablation = report["text_only_ablation"]
        print(f"  media examples: {ablation['accuracy_with_media']} with media, {ablation['accuracy_without_media']} text only")
    if report["voice_vs_text"]:
        voice = report["voice_vs_text"]
        print(f"  voice examples: {voice['accuracy_voice_only']} voice only, {voice['accuracy_text_only']} as text "
              f"({voice['examples']} examples)")
    print(f"report: {args.out / 'report.json'}, confusion matrix: {args.out / 'confusion_matrix.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
