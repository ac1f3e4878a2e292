"""Evaluate an NLU pipeline on your own data: ``python -m components.evaluation``.

Trains with ``rasa train nlu`` on a training part and parses the held-out part through the real
pipeline, then writes ``report.json`` (precision/recall/F1 per intent and per sentiment class,
accuracy per modality subset, and a text-only ablation for examples that carry media) and
``confusion_matrix.png`` to the output folder.

    python -m components.evaluation --nlu data/ --config config.yml --out results/evaluation
    python -m components.evaluation --nlu data/ --test-nlu data/test/ --out results/evaluation
    python -m components.evaluation --nlu data/ --folds 5 --out results/evaluation
    python -m components.evaluation --model models/assistant.tar.gz --test-nlu tests/data/heldout.yml

``--model`` skips training and parses the test set with an already trained model. Test examples
with audio are also parsed voice-only (empty text + the clip) and text-only (the written text, no
attachments): the report's ``voice_vs_text`` compares the two.
"""

import argparse
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

from components.evaluation.experiment import evaluate_model, load_nlu, splits, train_and_evaluate
from components.evaluation.report import build_report
from components.evaluation.runner import quiet_logs


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.evaluation", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nlu", type=Path, default=Path("data"), help="training data (file or folder)")
    parser.add_argument("--config", type=Path, default=Path("config.yml"))
    parser.add_argument("--test-nlu", type=Path, help="held-out test data; otherwise split --nlu")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--folds", type=int, default=1, help="K-fold cross-validation when > 1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("results/evaluation"))
    parser.add_argument("--model", type=Path, help="trained model (.tar.gz): no training; needs --test-nlu")
    return parser.parse_args(argv)


def evaluation_rows(args: argparse.Namespace) -> Dict[str, List]:
    """Rows of every test example: from the given model, or trained per split (or fold)."""
    test_data = load_nlu(args.test_nlu) if args.test_nlu else None
    if args.model:
        if test_data is None:
            raise SystemExit("--model needs --test-nlu: a trained model can only be tested on held-out data.")
        if not args.model.is_file():
            raise SystemExit(f"No trained model at {args.model}.")
        return evaluate_model(args.model, test_data)
    data = load_nlu(args.nlu)
    rows: Dict[str, List] = {}
    with tempfile.TemporaryDirectory(prefix="rasa-evaluate-") as tmp:
        for index, (train, test) in enumerate(splits(data, test_data, args.test_fraction, args.folds, args.seed)):
            part = train_and_evaluate(train, test, args.config, Path(tmp), f"fold{index}")
            for key, values in part.items():
                rows.setdefault(key, []).extend(values)
    return rows


def print_summary(report: Dict, out: Path) -> None:
    intent = report["intent"]
    print(f"intent accuracy {intent['accuracy']:.4f}, macro F1 {intent['macro avg']['f1-score']:.4f} "
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
    print(f"report: {out / 'report.json'}, confusion matrix: {out / 'confusion_matrix.png'}")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    rows = evaluation_rows(args)
    meta = {"config": str(args.config), "nlu": str(args.nlu), "test_nlu": str(args.test_nlu) if args.test_nlu else None,
            "folds": args.folds, "model": str(args.model) if args.model else None}
    report = build_report(rows, args.out, meta)
    print_summary(report, args.out)
    return 0
