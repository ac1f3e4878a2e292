"""Intent accuracy benchmark: Rasa's stock DIET pipeline vs our featurizer + fusion classifier.

Systems (``bench/configs/``): ``stock_diet`` (Rasa's word + char counts and DIET), ``fusion`` (our
frozen sentence featurizer + counts + fusion classifier) and ``fusion_finetuned`` (the same with
the classifier fine-tuning its own encoder copy end to end). All are trained with
``rasa train nlu`` on the dataset's official train split and parsed message by message through
Rasa's own processor, in the same run, on the same machine. Latency is reported for the whole
parse and for the featurizer + classifier nodes alone.

    python bench/intent.py --dataset banking77 --data-dir ../shared/data --json bench/reports/banking77.json
"""

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rasa.engine.graph import GraphNodeHook  # noqa: E402
from rasa.nlu.classifiers.classifier import IntentClassifier  # noqa: E402
from rasa.nlu.featurizers.featurizer import Featurizer  # noqa: E402

from bench.datasets import OOS, banking77, clinc150, sample, smp2017  # noqa: E402
from components.evaluation.runner import (  # noqa: E402
    Example,
    ModelParser,
    Parsed,
    quiet_logs,
    train_nlu_model,
    write_nlu_yaml,
)
from components.evaluation.stats import latency_ms  # noqa: E402

SYSTEMS = {
    "stock_diet": ROOT / "bench/configs/stock_diet.yml",
    "fusion": ROOT / "bench/configs/fusion.yml",
    "fusion_finetuned": ROOT / "bench/configs/fusion_finetuned.yml",
    # Chinese (SMP2017): Rasa's stock Chinese pipeline vs ours.
    "stock_zh": ROOT / "bench/configs/stock_zh.yml",
    "fusion_zh": ROOT / "bench/configs/fusion_zh.yml",
}
DEFAULT_SYSTEMS = {"smp2017": "stock_zh,fusion_zh"}


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro", zero_division=0))


def choose_threshold(parsed: List[Parsed], truth: List[str]) -> float:
    """Confidence threshold that maximises the mean of in-scope accuracy and OOS recall."""
    best_t, best_score = 0.0, -1.0
    for t in np.linspace(0.0, 0.99, 100):
        in_scope, oos = _scores(parsed, truth, float(t))
        score = (in_scope + oos) / 2
        if score > best_score:
            best_t, best_score = float(t), score
    return best_t


def _scores(parsed: List[Parsed], truth: List[str], threshold: float):
    predictions = [OOS if (p.intent == OOS or p.confidence < threshold) else p.intent for p in parsed]
    in_scope = [p == t for p, t in zip(predictions, truth) if t != OOS]
    oos = [p == OOS for p, t in zip(predictions, truth) if t == OOS]
    return float(np.mean(in_scope)) if in_scope else 0.0, float(np.mean(oos)) if oos else 0.0


class NodeTimer(GraphNodeHook):
    """Seconds spent in featurizer and classifier nodes per parse, via Rasa's own graph hooks.

    Rasa builds the prediction graph without hooks, so the hook is added to the loaded nodes
    (private attributes; a measurement side channel only: the parse path itself is unchanged).
    """

    def __init__(self, agent) -> None:
        self.seconds = 0.0
        for node in agent.processor.graph_runner._instantiated_nodes.values():
            if issubclass(node._component_class, (Featurizer, IntentClassifier)):
                node._hooks.append(self)

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


def run_system(name: str, config: Path, train_yaml: Path, splits: Dict[str, List[Example]], work: Path, diet_epochs: int) -> Dict:
    cfg = yaml.safe_load(config.read_text())
    epochs = None
    for component in cfg["pipeline"]:
        if component["name"] == "DIETClassifier":
            component["epochs"] = epochs = diet_epochs
    config_path = work / f"{name}.yml"
    config_path.write_text(yaml.safe_dump(cfg))
    print(f"[{name}] training on {sum(1 for _ in splits['train'])} examples ...", flush=True)
    started = time.perf_counter()
    model = train_nlu_model(config_path, train_yaml, work / "models", name)
    train_seconds = time.perf_counter() - started
    parser = ModelParser(model)
    result: Dict = {"config": cfg["pipeline"], "train_seconds": round(train_seconds, 1)}
    if epochs is not None:
        result["diet_epochs"] = epochs
    test = splits["test"]
    print(f"[{name}] trained in {train_seconds:.0f} s; parsing {len(test)} test messages ...", flush=True)
    timer = NodeTimer(parser.agent)
    parsed, stage_seconds = timer.parse_all(parser, test)
    truth = [e.intent for e in test]
    predicted = [p.intent or "" for p in parsed]
    result["accuracy"] = round(float(np.mean([p == t for p, t in zip(predicted, truth)])), 4)
    result["macro_f1"] = round(macro_f1(truth, predicted), 4)
    # Whole parse through Rasa's processor (tokenizer and processor overhead included) ...
    result["predict_latency"] = latency_ms([p.seconds for p in parsed])
    # ... and the featurizers + classifier alone (what the latency target names).
    result["featurizer_classifier_latency"] = latency_ms(stage_seconds)
    if "dev" in splits:
        dev = splits["dev"]
        dev_parsed, _ = timer.parse_all(parser, dev)
        result["dev_accuracy"] = round(float(np.mean([p.intent == e.intent for p, e in zip(dev_parsed, dev)])), 4)
    if "val" in splits:
        val = splits["val"]
        val_parsed, _ = timer.parse_all(parser, val)
        threshold = choose_threshold(val_parsed, [e.intent for e in val])
        in_scope, oos = _scores(parsed, truth, threshold)
        raw_in, raw_oos = _scores(parsed, truth, 0.0)
        result.update(
            {
                "threshold": round(threshold, 2),
                "in_scope_accuracy": round(in_scope, 4),
                "oos_recall": round(oos, 4),
                "in_scope_accuracy_no_threshold": round(raw_in, 4),
                "oos_recall_no_threshold": round(raw_oos, 4),
            }
        )
    parser.close()
    return result


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=["banking77", "clinc150", "smp2017"], required=True)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--systems", default=None, help="comma-separated (default: stock_diet,fusion,fusion_finetuned; smp2017: stock_zh,fusion_zh): " + ",".join(SYSTEMS))
    parser.add_argument("--diet-epochs", type=int, default=12, help="DIET epochs (stock DIET needs ~2 min/epoch on Banking77 here)")
    parser.add_argument("--fraction", type=float, default=1.0, help="stratified fraction of train/test to use (quick runs)")
    parser.add_argument("--keep-models", type=Path, help="copy the trained models here (e.g. for bench/speech.py --model)")
    args = parser.parse_args(argv)
    quiet_logs()

    args.systems = args.systems or DEFAULT_SYSTEMS.get(args.dataset, "stock_diet,fusion,fusion_finetuned")
    if args.dataset == "smp2017":
        # The dev split is reported next to test; every setting was fixed before looking at test.
        raw = smp2017(args.data_dir)
        splits = {"train": sample(raw["train"], args.fraction), "dev": raw["dev"],
                  "test": sample(raw["test"], args.fraction)}
    elif args.dataset == "banking77":
        raw = banking77(args.data_dir)
        splits = {"train": sample(raw["train"], args.fraction), "test": sample(raw["test"], args.fraction)}
    else:
        raw = clinc150(args.data_dir)
        splits = {
            "train": sample(raw["train"], args.fraction) + raw["oos_train"],
            "val": sample(raw["val"], args.fraction) + raw["oos_val"],
            "test": sample(raw["test"], args.fraction) + raw["oos_test"],
        }

    report: Dict = {
        "dataset": args.dataset,
        "fraction": args.fraction,
        "train_examples": len(splits["train"]),
        "test_examples": len(splits["test"]),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "systems": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-intent-") as tmp:
        work = Path(tmp)
        train_yaml = write_nlu_yaml(splits["train"], work / "train.yml")
        for name in args.systems.split(","):
            report["systems"][name] = run_system(name, SYSTEMS[name], train_yaml, splits, work, args.diet_epochs)
            if args.keep_models:
                args.keep_models.mkdir(parents=True, exist_ok=True)
                for model in (work / "models").glob(f"{name}*.tar.gz"):
                    shutil.copy2(model, args.keep_models / f"{args.dataset}-{model.name}")
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))

    print_table(report)
    return 0


def print_table(report: Dict) -> None:
    clinc = report["dataset"] == "clinc150"
    head = f"{'system':<17} {'accuracy':>9} {'macro-F1':>9} {'train s':>8} {'p50 ms':>7} {'p95 ms':>7} {'f+c p50':>7}"
    if clinc:
        head += f" {'in-scope':>9} {'OOS rec':>8} {'thresh':>6}"
    print(f"\n{report['dataset']} (train {report['train_examples']}, test {report['test_examples']})")
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
        if "dev_accuracy" in r:
            line += f"  dev {r['dev_accuracy']*100:.2f}%"
        if "diet_epochs" in r:
            line += f"  (DIET {r['diet_epochs']} epochs)"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
