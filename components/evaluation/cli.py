"""Evaluate an NLU pipeline on your own data: ``python -m components.evaluation``.

Trains with ``rasa train nlu`` on a training part and parses the held-out part through the real
pipeline, then writes ``report.json`` (precision/recall/F1 per intent and per sentiment class,
accuracy per modality subset, and a text-only ablation for examples that carry media) and
``confusion_matrix.png`` to the output folder.

    python -m components.evaluation --nlu data/ --config config.yml --out results/evaluation
    python -m components.evaluation --nlu data/ --test-nlu data/test/ --out results/evaluation
    python -m components.evaluation --nlu data/ --folds 5 --out results/evaluation
    python -m components.evaluation --model models/assistant.tar.gz --test-nlu tests/data/heldout.yml
    python -m components.evaluation --model models/assistant.tar.gz --test-nlu tests/data/heldout_multimodal.yml --test-nlu tests/data/heldout_multimodal_zh.yml

``--model`` skips training and parses the test set with an already trained model. Test examples
with audio are also parsed voice-only (empty text + the clip) and text-only (the written text, no
attachments): the report's ``voice_vs_text`` compares the two. ``--test-nlu`` given more than once
(or as a comma list) evaluates each set with the same model: ``report.json`` then has one section
per set under ``sets`` (named by the file's stem, the same metrics as a single-set report) and a
``confusion_matrix_<set>.png`` each.
"""

import argparse
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from components.evaluation.experiment import (
    evaluate_model_sets,
    load_nlu,
    splits,
    train_and_evaluate,
    train_and_evaluate_sets,
)
from components.evaluation.report import build_report, build_sets_report
from components.evaluation.runner import quiet_logs


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.evaluation", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nlu", type=Path, default=Path("data"), help="training data (file or folder)")
    parser.add_argument("--config", type=Path, default=Path("config.yml"))
    parser.add_argument("--test-nlu", action="append", default=[],
                        help="held-out test data (file or folder; repeat or comma-separate for several sets); "
                             "otherwise split --nlu")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--folds", type=int, default=1, help="K-fold cross-validation when > 1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("results/evaluation"))
    parser.add_argument("--model", type=Path, help="trained model (.tar.gz): no training; needs --test-nlu")
    args = parser.parse_args(argv)
    args.test_nlu = [Path(p) for value in args.test_nlu for p in value.split(",") if p.strip()]
    stems = [p.stem for p in args.test_nlu]
    if len(set(stems)) < len(stems):
        parser.error(f"--test-nlu sets need different file names (each names its report section): {stems}")
    return args


def evaluation_rows(args: argparse.Namespace) -> Tuple[Dict[str, Dict[str, List]], Dict]:
    """Rows of every test example per test set (named by file stem; "test" for a split of --nlu):
    from the given model, or trained per split (or fold); and the given model's speech settings."""
    test_sets = {path.stem: load_nlu(path) for path in args.test_nlu}
    if args.model:
        if not test_sets:
            raise SystemExit("--model needs --test-nlu: a trained model can only be tested on held-out data.")
        if not args.model.is_file():
            raise SystemExit(f"No trained model at {args.model}.")
        return evaluate_model_sets(args.model, test_sets)
    data = load_nlu(args.nlu)
    with tempfile.TemporaryDirectory(prefix="rasa-evaluate-") as tmp:
        if len(test_sets) > 1:
            return train_and_evaluate_sets(data, test_sets, args.config, Path(tmp)), {}
        rows: Dict[str, List] = {}
        test_data = next(iter(test_sets.values()), None)
        for index, (train, test) in enumerate(splits(data, test_data, args.test_fraction, args.folds, args.seed)):
            part = train_and_evaluate(train, test, args.config, Path(tmp), f"fold{index}")
            for key, values in part.items():
                rows.setdefault(key, []).extend(values)
    return {next(iter(test_sets), "test"): rows}, {}


def print_summary(report: Dict, name: str = "") -> None:
    intent = report["intent"]
    if name:
        print(f"{name}:")
    print(f"intent accuracy {intent['accuracy']:.4f}, macro F1 {intent['macro avg']['f1-score']:.4f} "
          f"on {report['examples']} examples")
    for subset_name, subset in report["modality_subsets"].items():
        print(f"  {subset_name}: {subset['accuracy']} ({subset['examples']} examples)")
    if report["text_only_ablation"]:
        ablation = report["text_only_ablation"]
        print(f"  media examples: {ablation['accuracy_with_media']} with media, {ablation['accuracy_without_media']} text only")
    if report["voice_vs_text"]:
        voice = report["voice_vs_text"]
        print(f"  voice examples: {voice['accuracy_voice_only']} voice only, {voice['accuracy_text_only']} as text "
              f"({voice['examples']} examples)")


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    quiet_logs()
    rows, speech = evaluation_rows(args)
    meta = {"config": str(args.config), "nlu": str(args.nlu), "folds": args.folds,
            "model": str(args.model) if args.model else None}
    if speech:
        meta["speech_transcriber"] = speech
    if len(rows) == 1:
        report = build_report(next(iter(rows.values())), args.out,
                              {**meta, "test_nlu": str(args.test_nlu[0]) if args.test_nlu else None})
        print_summary(report)
        print(f"report: {args.out / 'report.json'}, confusion matrix: {args.out / 'confusion_matrix.png'}")
        return 0
    report = build_sets_report(rows, args.out, {**meta, "test_nlu": [str(p) for p in args.test_nlu]})
    for name, section in report["sets"].items():
        print_summary(section, name)
    print(f"report: {args.out / 'report.json'}, confusion matrices: {args.out}/confusion_matrix_<set>.png")
    return 0
