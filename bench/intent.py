"""Intent accuracy benchmark: Rasa's stock DIET pipeline vs our featurizer + fusion classifier.

Systems (``bench/configs/``): ``stock_diet`` (Rasa's word + char counts and DIET), ``fusion`` (our
frozen sentence featurizer + counts + fusion classifier) and ``fusion_finetuned`` (the same with
the classifier fine-tuning its own encoder copy end to end). All are trained with
``rasa train nlu`` and parsed message by message through Rasa's own processor, in the same run,
on the same machine. Latency is reported for the whole parse and for the featurizer + classifier
nodes alone.

Model selection follows the rule in ``bench/selection.py`` (written before any test example is
read): each system's declared candidates are trained on the training examples and compared on the
validation split (official where the dataset has one; carved from train for Banking77), the
chosen candidate's model is parsed on test once, and the report records which split chose what.
Test examples are loaded only after every system's selection is finished. Fusion systems are then
parsed again, the same model, with ``MM_TEXT_ENCODER_BACKEND=torch`` (the unaccelerated sentence
encoder), to report the accuracy and latency of the default backend against it.

    python bench/intent.py --dataset banking77 --data-dir ../shared/data --json bench/reports/banking77.json
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rasa.engine.graph import GraphNodeHook  # noqa: E402
from rasa.nlu.classifiers.classifier import IntentClassifier  # noqa: E402
from rasa.nlu.featurizers.featurizer import Featurizer  # noqa: E402

from bench import selection as rule  # noqa: E402
from bench.datasets import OOS, Development, development, load_test  # noqa: E402
from components.evaluation.runner import (  # noqa: E402
    Example,
    ModelParser,
    Parsed,
    quiet_logs,
    train_nlu_model,
    write_nlu_yaml,
)
from components.evaluation.stats import latency_ms  # noqa: E402
from components.fusion.tuned_encoder import TunedTextEncoder  # noqa: E402

SYSTEMS = {
    "stock_diet": ROOT / "bench/configs/stock_diet.yml",
    "fusion": ROOT / "bench/configs/fusion.yml",
    "fusion_finetuned": ROOT / "bench/configs/fusion_finetuned.yml",
    # Chinese (SMP2017): Rasa's stock Chinese pipeline vs ours.
    "stock_zh": ROOT / "bench/configs/stock_zh.yml",
    "fusion_zh": ROOT / "bench/configs/fusion_zh.yml",
}
DEFAULT_SYSTEMS = {"smp2017": "stock_zh,fusion_zh"}


BACKEND_VARIABLE = "MM_TEXT_ENCODER_BACKEND"
UNACCELERATED = "torch"


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro", zero_division=0))


class NodeTimer(GraphNodeHook):
    """Seconds spent in featurizer and classifier nodes per parse, via Rasa's own graph hooks.

    Rasa builds the prediction graph without hooks, so the hook is added to the loaded nodes
    (private attributes; a measurement side channel only: the parse path itself is unchanged).
    """

    def __init__(self, agent) -> None:
        self.seconds = 0.0
        # What the fusion classifier's fine-tuned encoder runs on ("onnx-int8", "onnx", "torch").
        self.tuned_encoder_backend = None
        for node in agent.processor.graph_runner._instantiated_nodes.values():
            if issubclass(node._component_class, (Featurizer, IntentClassifier)):
                node._hooks.append(self)
            encoder = getattr(node._component, "_encoder", None)  # featurizers have one too
            if isinstance(encoder, TunedTextEncoder):
                self.tuned_encoder_backend = encoder.backend

    def on_before_node(self, node_name, execution_context, config, received_inputs) -> Dict:
        return {"started": time.perf_counter()}

    def on_after_node(self, node_name, execution_context, config, output, input_hook_data) -> None:
        self.seconds += time.perf_counter() - input_hook_data["started"]

    def parse_all(self, parser: ModelParser, examples: List[Example]) -> Tuple[List[Parsed], List[float]]:
        parsed, stage = [], []
        for example in examples:
            self.seconds = 0.0
            parsed.append(parser.parse(example.text, example.metadata or None))
            stage.append(self.seconds)
        return parsed, stage


def parse_model(model: Path, examples: List[Example]) -> Tuple[List[Parsed], List[float], object]:
    """Loads ``model`` (reading the encoder backend variable as it is now) and parses ``examples``;
    also says what a fine-tuned encoder ran on (None: the model has none)."""
    parser = ModelParser(model)
    try:
        timer = NodeTimer(parser.agent)
        return (*timer.parse_all(parser, examples), timer.tuned_encoder_backend)
    finally:
        parser.close()


def candidate_config(name: str, config: Path, candidate: rule.Candidate, diet_epochs: int) -> Tuple[Dict, int]:
    """The system's pipeline with the candidate's classifier overrides applied; DIET epochs set."""
    cfg = yaml.safe_load(config.read_text())
    epochs = None
    for component in cfg["pipeline"]:
        if component["name"] == "DIETClassifier":
            component["epochs"] = epochs = diet_epochs
        if component["name"].endswith("MultimodalFusionClassifier"):
            component.update(candidate.overrides)
        elif candidate.overrides and component["name"] == "DIETClassifier":
            component.update(candidate.overrides)
    return cfg, epochs


def _read_spoken(path: Path, dataset: str, split: str, what: str) -> Dict:
    """A ``bench/speech.py --transcripts`` file of ``dataset``'s ``split``, its shape checked."""
    spoken = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(spoken, dict) or not isinstance(spoken.get("rows"), list):
        raise ValueError(f"{path}: not a spoken {what} file (bench/speech.py --transcripts writes one)")
    if spoken.get("dataset") != dataset or spoken.get("split") != split:
        raise ValueError(f"{path}: spoken {what} of {spoken.get('dataset')!r} split {spoken.get('split')!r}, "
                         f"not {dataset!r} {split}")
    return spoken


def read_spoken_validation(path: Path, dataset: str, dev: Development) -> Dict:
    """The ``bench/speech.py --split dev --transcripts`` file, checked: the same dataset, and every
    row a validation sentence with its label (``rule.check_spoken_validation``)."""
    spoken = _read_spoken(path, dataset, "dev", "validation")
    spoken["rows"] = rule.check_spoken_validation(spoken["rows"], dev.validation_examples)
    return spoken


def read_spoken_training(path: Path, dataset: str, dev: Development) -> Dict:
    """The ``bench/speech.py --split train --transcripts`` file, checked: the same dataset, and
    every row a sentence the systems train on, with its label (``rule.check_spoken_training``)."""
    spoken = _read_spoken(path, dataset, "train", "training")
    spoken["rows"] = rule.check_spoken_training(spoken["rows"], dev.train_examples)
    return spoken


def _said(text: str) -> str:
    """The letters and digits of ``text``, lower-cased: what a transcript is compared on."""
    return "".join(c for c in text.lower() if c.isalnum())


def spoken_training_examples(rows: Sequence[Dict]) -> List[Example]:
    """The transcripts as training examples with their sentences' labels. A transcript that says
    what its sentence says (punctuation, spacing and case aside) adds nothing new, and an empty
    one (nothing heard) teaches nothing: both are left out."""
    examples = []
    for row in rows:
        heard = " ".join(row["transcript"].split())
        if _said(heard) and _said(heard) != _said(row["text"]):
            examples.append(Example(heard, row["label"]))
    return examples


def select_system(name: str, dev: Development, train_yaml: Path, work: Path, diet_epochs: int,
                  spoken: Optional[Dict] = None, spoken_train_yaml: Optional[Path] = None) -> Tuple[rule.Selection, Dict]:
    """Trains each declared candidate, scores it on validation (typed, and the spoken
    transcripts when given) and applies the rule. Candidates declared with spoken training
    sentences train on ``spoken_train_yaml`` (the training examples and their transcripts)."""
    validation = dev.validation_examples
    truth = [e.intent for e in validation]
    spoken_rows = spoken["rows"] if spoken else []
    spoken_examples = [Example(r["transcript"], r["label"]) for r in spoken_rows]
    scored, models, configs, val_parses = [], {}, {}, {}
    grid = rule.candidates(name, spoken_train=spoken_train_yaml is not None)
    for candidate in grid:
        label = name if len(grid) == 1 else f"{name}__{candidate.name}"
        cfg, epochs = candidate_config(name, SYSTEMS[name], candidate, diet_epochs)
        config_path = work / f"{label}.yml"
        config_path.write_text(yaml.safe_dump(cfg))
        data = spoken_train_yaml if candidate.spoken_train else train_yaml
        print(f"[{label}] training on {len(dev.train)} examples{' and their transcripts' if candidate.spoken_train else ''} ...",
              flush=True)
        started = time.perf_counter()
        models[candidate.name] = train_nlu_model(config_path, data, work / "models", label)
        seconds = time.perf_counter() - started
        parsed, _, _ = parse_model(models[candidate.name], validation + spoken_examples)
        parsed, heard = parsed[:len(validation)], parsed[len(validation):]
        correct = sum(p.intent == t for p, t in zip(parsed, truth))
        spoken_correct = sum(p.intent == e.intent for p, e in zip(heard, spoken_examples))
        scored.append(rule.Scored(candidate, int(correct + spoken_correct), len(truth) + len(spoken_examples),
                                  seconds, int(spoken_correct), len(spoken_examples)))
        configs[candidate.name], val_parses[candidate.name] = (cfg, epochs), parsed
        said = f", spoken {spoken_correct / len(spoken_examples):.4f}" if spoken_examples else ""
        print(f"[{label}] trained in {seconds:.0f} s; validation accuracy {correct / len(truth):.4f}{said}", flush=True)
    chosen = rule.choose(scored).candidate.name
    threshold = None
    if OOS in truth:  # CLINC150: the out-of-scope threshold, from the chosen model's validation parses
        chosen_parses = val_parses[chosen]
        threshold = rule.choose_threshold([p.confidence for p in chosen_parses],
                                          [p.intent or "" for p in chosen_parses], truth, OOS)
    selection = rule.select(name, scored, dev.validation_source, [i for i, _ in dev.validation], models, threshold)
    cfg, epochs = configs[chosen]
    chosen_scored = selection.chosen
    result: Dict = {"config": cfg["pipeline"], "train_seconds": round(chosen_scored.train_seconds, 1),
                    "validation_accuracy": round(chosen_scored.typed_accuracy, 4)}
    if spoken_rows:
        result["spoken_validation"] = {  # the transcripts' source: the report's own spoken_validation
            "accuracy": round(chosen_scored.spoken_correct / chosen_scored.spoken_total, 4),
            "examples": chosen_scored.spoken_total,
        }
    if epochs is not None:
        result["diet_epochs"] = epochs
    return selection, result


def test_system(selection: rule.Selection, test: List[Example], result: Dict) -> Dict:
    """Parses the test split once with the chosen model; fusion systems once more on torch."""
    name = selection.system
    print(f"[{name}] parsing {len(test)} test messages with the chosen model ({selection.chosen.candidate.name}) ...", flush=True)
    parsed, stage_seconds, tuned_backend = parse_model(selection.model, test)
    truth = [e.intent for e in test]
    predicted = [p.intent or "" for p in parsed]
    result["accuracy"] = round(float(np.mean([p == t for p, t in zip(predicted, truth)])), 4)
    result["macro_f1"] = round(macro_f1(truth, predicted), 4)
    # Whole parse through Rasa's processor (tokenizer and processor overhead included) ...
    result["predict_latency"] = latency_ms([p.seconds for p in parsed])
    # ... and the featurizers + classifier alone (what the latency target names).
    result["featurizer_classifier_latency"] = latency_ms(stage_seconds)
    result["text_encoder_backend"] = os.environ.get(BACKEND_VARIABLE, "unset (component default)")
    if tuned_backend is not None:
        result["tuned_encoder_backend"] = tuned_backend  # int8 only when the classifier's hold-out allowed it
    if selection.threshold is not None:
        confidences = [p.confidence for p in parsed]
        in_scope, oos = rule.threshold_scores(confidences, predicted, truth, selection.threshold, OOS)
        raw_in, raw_oos = rule.threshold_scores(confidences, predicted, truth, 0.0, OOS)
        result.update({"threshold": round(selection.threshold, 2), "in_scope_accuracy": round(in_scope, 4),
                       "oos_recall": round(oos, 4), "in_scope_accuracy_no_threshold": round(raw_in, 4),
                       "oos_recall_no_threshold": round(raw_oos, 4)})
    if name.startswith("fusion"):
        result.update(compare_unaccelerated(selection.model, test, truth, result))
    result["selection"] = selection.record()
    return result


def compare_unaccelerated(model: Path, test: List[Example], truth: List[str], result: Dict) -> Dict:
    """The same trained model parsed with the unaccelerated (torch) sentence encoder."""
    previous = os.environ.get(BACKEND_VARIABLE)
    os.environ[BACKEND_VARIABLE] = UNACCELERATED  # read at model load
    try:
        print(f"  ... and again with {BACKEND_VARIABLE}={UNACCELERATED}", flush=True)
        parsed, stage_seconds, _ = parse_model(model, test)
    finally:
        if previous is None:
            os.environ.pop(BACKEND_VARIABLE, None)
        else:
            os.environ[BACKEND_VARIABLE] = previous
    accuracy = float(np.mean([p.intent == t for p, t in zip(parsed, truth)]))
    torch_latency = latency_ms(stage_seconds)
    p50 = result["featurizer_classifier_latency"]["p50_ms"]
    return {
        "accuracy_torch": round(accuracy, 4),
        "featurizer_classifier_latency_torch": torch_latency,
        "accuracy_minus_torch_points": round((result["accuracy"] - accuracy) * 100, 2) + 0.0,
        "latency_ratio_to_torch_p50": round(p50 / torch_latency["p50_ms"], 3) if torch_latency["p50_ms"] else None,
    }


def write_report(path: Path, report: Dict, selections: Dict[str, rule.Selection]) -> None:
    """Writes the report only when every result is backed by a validation selection."""
    rule.require_reportable(report, selections)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["banking77", "clinc150", "smp2017"], required=True)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--systems", default=None, help="comma-separated (default: stock_diet,fusion,fusion_finetuned; smp2017: stock_zh,fusion_zh): " + ",".join(SYSTEMS))
    parser.add_argument("--diet-epochs", type=int, default=12, help="DIET epochs (stock DIET needs ~2 min/epoch on Banking77 here)")
    parser.add_argument("--fraction", type=float, default=1.0, help="stratified fraction of train/validation/test to use (quick runs; the report is then marked not comparable)")
    parser.add_argument("--keep-models", type=Path, help="copy the chosen models here (e.g. for bench/speech.py --model)")
    parser.add_argument("--spoken-validation", type=Path,
                        help="validation sentences spoken and transcribed (bench/speech.py --split dev --transcripts); "
                             "each transcript counts in the selection rule as one more validation example")
    parser.add_argument("--spoken-train", type=Path,
                        help="training sentences spoken and transcribed (bench/speech.py --split train --transcripts): "
                             "the grid's spoken_train candidates train on these transcripts as well")
    args = parser.parse_args(argv)
    quiet_logs()

    systems = (args.systems or DEFAULT_SYSTEMS.get(args.dataset, "stock_diet,fusion,fusion_finetuned")).split(",")
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    dev = development(args.dataset, args.data_dir, args.fraction)
    spoken = read_spoken_validation(args.spoken_validation, args.dataset, dev) if args.spoken_validation else None
    spoken_train = read_spoken_training(args.spoken_train, args.dataset, dev) if args.spoken_train else None
    heard_train = spoken_training_examples(spoken_train["rows"]) if spoken_train else []
    report: Dict = {
        "dataset": args.dataset,
        "fraction": args.fraction,
        **rule.comparability(args.fraction),
        "train_examples": len(dev.train),
        "validation": dev.validation_source,
        **({"spoken_validation": {"file": str(args.spoken_validation), "examples": len(spoken["rows"]),
                                  "voice": spoken.get("voice"), "backend": spoken.get("backend"),
                                  "cer": spoken.get("cer")}} if spoken else {}),
        **({"spoken_train": {"file": str(args.spoken_train), "examples": len(heard_train),
                             "voice": spoken_train.get("voice"), "backend": spoken_train.get("backend"),
                             "cer": spoken_train.get("cer")}} if spoken_train else {}),
        # Latency is shared-machine latency: the load average says how shared.
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "systems": {},
    }
    selections: Dict[str, rule.Selection] = {}
    results: Dict[str, Dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-intent-") as tmp:
        work = Path(tmp)
        train_yaml = write_nlu_yaml(dev.train_examples, work / "train.yml")
        spoken_train_yaml = (write_nlu_yaml(dev.train_examples + heard_train, work / "train_spoken.yml")
                             if spoken_train else None)
        for name in systems:  # selection: validation only
            selections[name], results[name] = select_system(name, dev, train_yaml, work, args.diet_epochs, spoken,
                                                            spoken_train_yaml)
        test = load_test(args.dataset, args.data_dir, selections.values(), args.fraction)
        report["test_examples"] = len(test)
        report["machine"]["load_average_after_selection"] = [round(x, 2) for x in os.getloadavg()]
        report["validation_test_disjointness"] = rule.check_disjoint(dev.validation, test)
        test_examples = [e for _, e in test]
        for name in systems:  # test: once, with each system's chosen model
            report["systems"][name] = test_system(selections[name], test_examples, results[name])
            if args.keep_models:
                args.keep_models.mkdir(parents=True, exist_ok=True)
                shutil.copy2(selections[name].model, args.keep_models / f"{args.dataset}-{name}.tar.gz")
            write_report(args.json, report, selections)

    print_table(report)
    return 0


def print_table(report: Dict) -> None:
    clinc = report["dataset"] == "clinc150"
    head = f"{'system':<17} {'accuracy':>9} {'macro-F1':>9} {'train s':>8} {'p50 ms':>7} {'p95 ms':>7} {'f+c p50':>7}"
    if clinc:
        head += f" {'in-scope':>9} {'OOS rec':>8} {'thresh':>6}"
    print(f"\n{report['dataset']} (train {report['train_examples']}, validation {report['validation']['examples']}, "
          f"test {report['test_examples']}){'' if report['comparable'] else ' NOT COMPARABLE: ' + report['why_not']}")
    print("p50/p95: whole Rasa parse; f+c p50: featurizers + classifier nodes only")
    print(head)
    for name, r in report["systems"].items():
        line = (
            f"{name:<17} {r['accuracy']*100:>8.2f}% {r['macro_f1']*100:>8.2f}% {r['train_seconds']:>8.0f} "
            f"{r['predict_latency']['p50_ms']:>7.1f} {r['predict_latency']['p95_ms']:>7.1f} "
            f"{r['featurizer_classifier_latency']['p50_ms']:>7.1f}"
        )
        if clinc:
            line += f" {r['in_scope_accuracy']*100:>8.2f}% {r['oos_recall']*100:>7.2f}% {r['threshold']:>6.2f}"
        line += f"  val {r['validation_accuracy']*100:.2f}% ({r['selection']['chosen']})"
        if "spoken_validation" in r:
            line += f" spoken val {r['spoken_validation']['accuracy']*100:.2f}%"
        if "accuracy_torch" in r:
            line += (f"  torch {r['accuracy_torch']*100:.2f}% f+c p50 "
                     f"{r['featurizer_classifier_latency_torch']['p50_ms']:.1f} ms")
        if "diet_epochs" in r:
            line += f"  (DIET {r['diet_epochs']} epochs)"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
