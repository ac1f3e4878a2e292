"""Loads the public intent benchmarks from ../shared/data (never copied into the repo).

``bench/intent.py`` reads them in two steps so that model selection cannot see test data:
``development`` gives the training and validation examples; ``load_test`` gives the test
examples only in exchange for finished validation selections (``bench.selection.Selection``).
``smp2017`` (all official splits at once) stays for ``bench/speech.py``, which selects nothing.
"""

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from components.evaluation.runner import Example

OOS = "oos"
DATASETS = ("banking77", "clinc150", "smp2017")
# Banking77 has no official validation split: this share of train, per intent, with this seed.
CARVED_VALIDATION_FRACTION = 0.1
CARVED_VALIDATION_SEED = 17


def _banking77(data_dir: Path) -> Dict[str, List[Example]]:
    """Official train/test split: 10,003 / 3,080 messages, 77 intents."""
    def read(name: str) -> List[Example]:
        with open(data_dir / "banking77" / name, newline="", encoding="utf-8") as f:
            return [Example(" ".join(row["text"].split()), row["category"]) for row in csv.DictReader(f)]

    return {"train": read("train.csv"), "test": read("test.csv")}


def _clinc150(data_dir: Path) -> Dict[str, List[Example]]:
    """Official splits; out-of-scope examples are labelled ``oos``."""
    raw = json.loads((data_dir / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    def split(key: str) -> List[Example]:
        return [Example(" ".join(text.split()), OOS if intent == "oos" else intent) for text, intent in raw[key]]

    return {name: split(name) for name in ("train", "val", "test", "oos_train", "oos_val", "oos_test")}


def smp2017(data_dir: Path) -> Dict[str, List[Example]]:
    """SMP2017-ECDT task 1 (Zhang et al. 2017; research use): 2,299 / 770 / 667 Chinese messages,
    31 intents, official train / dev / test."""
    def read(name: str) -> List[Example]:
        with open(data_dir / "smp2017" / name, newline="", encoding="utf-8-sig") as f:
            return [Example(" ".join(row["text"].split()), row["label"]) for row in csv.DictReader(f)
                    if row["text"].strip()]

    return {"train": read("train.csv"), "dev": read("dev.csv"), "test": read("test.csv")}


def sample(examples: List, fraction: float, seed: int = 0, intent_of=lambda e: e.intent) -> List:
    """A per-intent stratified subsample (for quick runs); 1.0 returns everything."""
    if fraction >= 1.0:
        return examples
    rng = random.Random(seed)
    by_intent: Dict[str, List] = {}
    for example in examples:
        by_intent.setdefault(intent_of(example), []).append(example)
    picked: List = []
    for group in by_intent.values():
        group = list(group)
        rng.shuffle(group)
        picked.extend(group[: max(2, int(round(len(group) * fraction)))])
    return picked


Identified = Tuple[str, Example]  # ("split:row", example): the id names the official file row


def _identified(split: str, examples: List[Example]) -> List[Identified]:
    return [(f"{split}:{row}", example) for row, example in enumerate(examples)]


def _sample_identified(items: List[Identified], fraction: float) -> List[Identified]:
    return sample(items, fraction, intent_of=lambda item: item[1].intent)


def carve_validation(train: List, fraction: float = CARVED_VALIDATION_FRACTION,
                     seed: int = CARVED_VALIDATION_SEED, intent_of=lambda e: e.intent) -> Tuple[List, List]:
    """(train minus validation, validation): ``fraction`` of each intent (at least one example,
    never all of them) drawn with ``seed``; the same input always gives the same split."""
    rng = random.Random(seed)
    by_intent: Dict[str, List[int]] = {}
    for index, example in enumerate(train):
        by_intent.setdefault(intent_of(example), []).append(index)
    held: set = set()
    for intent in sorted(by_intent):
        indices = by_intent[intent]
        if len(indices) < 2:
            continue
        rng.shuffle(indices)
        held.update(indices[: min(len(indices) - 1, max(1, int(round(len(indices) * fraction))))])
    return ([e for i, e in enumerate(train) if i not in held], [e for i, e in enumerate(train) if i in held])


@dataclass(frozen=True)
class Development:
    """What model selection may read: the examples systems train on and the validation split,
    each example with its id (official split and row) for the validation/test disjointness check."""

    dataset: str
    train: List[Identified]
    validation: List[Identified]
    # Where the validation split comes from, written into the report.
    validation_source: Dict

    @property
    def train_examples(self) -> List[Example]:
        return [e for _, e in self.train]

    @property
    def validation_examples(self) -> List[Example]:
        return [e for _, e in self.validation]


def development(dataset: str, data_dir: Path, fraction: float = 1.0) -> Development:
    """Training and validation examples (no test example is read here)."""
    if dataset == "banking77":
        train, validation = carve_validation(
            _sample_identified(_identified("train", _banking77(data_dir)["train"]), fraction),
            intent_of=lambda item: item[1].intent)
        source = {"split": "carved from the official train split (systems train on the rest)",
                  "fraction": CARVED_VALIDATION_FRACTION, "seed": CARVED_VALIDATION_SEED,
                  "stratified": "per intent"}
    elif dataset == "clinc150":
        raw = _clinc150(data_dir)
        train = _sample_identified(_identified("train", raw["train"]), fraction) + _identified("oos_train", raw["oos_train"])
        validation = _sample_identified(_identified("val", raw["val"]), fraction) + _identified("oos_val", raw["oos_val"])
        source = {"split": "official val (+ oos_val)"}
    elif dataset == "smp2017":
        raw = smp2017(data_dir)
        train = _sample_identified(_identified("train", raw["train"]), fraction)
        validation = _identified("dev", raw["dev"])
        source = {"split": "official dev"}
    else:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    source["examples"] = len(validation)
    return Development(dataset, train, validation, source)


def load_test(dataset: str, data_dir: Path, selections: Iterable, fraction: float = 1.0) -> List[Identified]:
    """The test examples with their ids, only in exchange for every system's finished validation
    selection (``bench.selection.require_validation_selections``): test is read after selection."""
    from bench.selection import require_validation_selections

    require_validation_selections(selections)
    if dataset == "banking77":
        return _sample_identified(_identified("test", _banking77(data_dir)["test"]), fraction)
    if dataset == "clinc150":
        raw = _clinc150(data_dir)
        return _sample_identified(_identified("test", raw["test"]), fraction) + _identified("oos_test", raw["oos_test"])
    if dataset == "smp2017":
        return _sample_identified(_identified("test", smp2017(data_dir)["test"]), fraction)
    raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
