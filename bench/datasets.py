"""Loads the public intent benchmarks from ../shared/data (never copied into the repo)."""

import csv
import json
import random
from pathlib import Path
from typing import Dict, List

from components.evaluation.runner import Example

OOS = "oos"


def banking77(data_dir: Path) -> Dict[str, List[Example]]:
    """Official train/test split: 10,003 / 3,080 messages, 77 intents."""
    def read(name: str) -> List[Example]:
        with open(data_dir / "banking77" / name, newline="", encoding="utf-8") as f:
            return [Example(" ".join(row["text"].split()), row["category"]) for row in csv.DictReader(f)]

    return {"train": read("train.csv"), "test": read("test.csv")}


def clinc150(data_dir: Path) -> Dict[str, List[Example]]:
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


def sample(examples: List[Example], fraction: float, seed: int = 0) -> List[Example]:
    """A per-intent stratified subsample (for quick runs); 1.0 returns everything."""
    if fraction >= 1.0:
        return examples
    rng = random.Random(seed)
    by_intent: Dict[str, List[Example]] = {}
    for example in examples:
        by_intent.setdefault(example.intent, []).append(example)
    picked: List[Example] = []
    for group in by_intent.values():
        rng.shuffle(group)
        picked.extend(group[: max(2, int(round(len(group) * fraction)))])
    return picked
