"""Honest model selection for ``bench/intent.py``: the rule, the candidate grids and the record.

The rule, fixed before any test example is read:

1. Validation: the dataset's official validation split where it has one (CLINC150 ``val`` with
   ``oos_val``, SMP2017 ``dev``); Banking77 has none, so a stratified share of its train split
   is carved with a fixed seed (``bench.datasets.CARVED_VALIDATION_FRACTION`` / ``_SEED``) and
   every system trains on the rest.
2. Each system has a small candidate grid declared here (``GRIDS``); a system without a grid has
   one candidate, its configuration as written in ``bench/configs/`` (settings fixed a priori,
   listed in ``FIXED_A_PRIORI``). Every candidate is trained once and parsed on validation.
3. The candidate with the most correct validation predictions wins (all validation examples,
   out-of-scope counted as a class, no threshold); a tie goes to the cheaper candidate (fewer
   epochs, ``Candidate.cost``), then to the one declared first. Where the run is given spoken
   validation (``--spoken-validation``: validation sentences spoken and transcribed by
   ``bench/speech.py --split dev``), each transcript counts as one more validation example: the
   model serves customers who type and customers who speak, so a setting that reads typed text a
   little better but transcripts much worse does not win. Every spoken row must be a validation
   sentence with its validation label (``check_spoken_validation``).
4. CLINC150's out-of-scope confidence threshold is chosen on the chosen candidate's validation
   parses only (``choose_threshold``).
5. The chosen candidate's model, as trained in step 2 (not retrained), is the only model of its
   system parsed on test. The test split is loaded only in exchange for every system's finished
   ``Selection`` (``bench.datasets.load_test``), its ids are checked disjoint from validation's,
   and the report writer refuses a result whose selection was not made on validation.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

VALIDATION = "validation"


@dataclass(frozen=True)
class Candidate:
    """One setting of a system: classifier config overrides, its cost (training epochs), and
    whether it also trains on transcripts of its training sentences (what the recogniser heard
    when they were spoken: the classifier learns its mistakes, e.g. Mandarin homophones)."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    cost: int = 0
    spoken_train: bool = False


SPOKEN_TRAIN_SUFFIX = "+spoken_train"


def with_spoken_training(grid: Sequence[Candidate]) -> List[Candidate]:
    """``grid`` followed by each of its candidates trained on the spoken training sentences too."""
    return list(grid) + [Candidate(c.name + SPOKEN_TRAIN_SUFFIX, c.overrides, c.cost, spoken_train=True)
                         for c in grid]


# Per system, the settings compared on validation (each candidate costs one training run: ~7 min
# for a fine-tuned candidate on Banking77 on 2 cores, so the grids stay tiny). The classifier also
# keeps its best fine-tuning epoch on its own hold-out of the training examples
# (``validation_fraction``), so the number of fine-tuning epochs is already chosen inside
# training; the grid compares the fusion mode.
GRIDS: Dict[str, List[Candidate]] = {
    # SMP2017 is small (2,299 training queries): whether the sparse word/char counts and the
    # attention layer help or overfit is a validation question, and each candidate trains in ~1 min.
    # Each setting is declared with and without the spoken training sentences (with_spoken_training).
    "fusion_zh": with_spoken_training([
        Candidate("as_configured", {}, cost=1),
        Candidate("sentence_only", {"sparse_origins": []}, cost=1),
        Candidate("concat", {"fusion": "concat"}, cost=1),
        Candidate("sentence_only_concat", {"sparse_origins": [], "fusion": "concat"}, cost=1),
        # Toneless pinyin syllables (components/pinyin_featurizer.py): Whisper's Mandarin errors
        # are mostly homophones, which keep their syllables; judged with spoken validation.
        Candidate("lex_pinyin", {"sparse_origins": ["lexical_words", "lexical_chars", "pinyin"]}, cost=1),
        Candidate("lex_pinyin_concat", {"sparse_origins": ["lexical_words", "lexical_chars", "pinyin"],
                                        "fusion": "concat"}, cost=1),
        Candidate("pinyin_concat", {"sparse_origins": ["pinyin"], "fusion": "concat"}, cost=1),
    ]),
    "fusion_finetuned": [
        Candidate("concat", {"fusion": "concat", "fine_tune_epochs": 3}, cost=3),
        Candidate("attention", {"fusion": "attention", "fine_tune_epochs": 3}, cost=3),
    ],
}
AS_CONFIGURED = Candidate("as_configured")

# What no grid chose, and why, as the report says it.
FIXED_A_PRIORI: Dict[str, str] = {
    "stock_diet": "Rasa's stock pipeline as written in bench/configs/stock_diet.yml; DIET epochs from "
                  "--diet-epochs (a compute budget, not tuned); no grid",
    "stock_zh": "Rasa's stock Chinese pipeline as written in bench/configs/stock_zh.yml; DIET epochs from "
                "--diet-epochs (a compute budget, not tuned); no grid",
    "fusion": "component defaults (MultimodalFusionClassifier.get_default_config) as written in "
              "bench/configs/fusion.yml; no grid",
    "fusion_zh": "every setting but the grid's (sparse_origins, fusion, spoken training sentences) from "
                 "bench/configs/fusion_zh.yml and the component defaults",
    "fusion_finetuned": "every setting but the grid's (fusion) from bench/configs/fusion_finetuned.yml and "
                        "the component defaults; fine_tune_epochs 3 (the component default) with the best "
                        "epoch kept on the classifier's own hold-out of its training examples",
}


def candidates(system: str, spoken_train: bool = False) -> List[Candidate]:
    """The declared grid of ``system``, or its single as-configured candidate; the candidates that
    train on spoken training sentences only when ``spoken_train`` (the file was given)."""
    return [c for c in GRIDS.get(system, [AS_CONFIGURED]) if spoken_train or not c.spoken_train]



@dataclass(frozen=True)
class Scored:
    """A candidate's validation result."""

    candidate: Candidate
    correct: int  # typed and spoken validation examples together
    total: int
    train_seconds: float = 0.0
    spoken_correct: int = 0  # of those, the spoken ones (transcripts)
    spoken_total: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def typed_accuracy(self) -> float:
        """Accuracy on the typed validation examples alone (what the report calls validation accuracy)."""
        typed = self.total - self.spoken_total
        return (self.correct - self.spoken_correct) / typed if typed else 0.0


def choose(scored: Sequence[Scored]) -> Scored:
    """The rule's step 3: most correct on validation, then cheaper, then declared first."""
    if not scored:
        raise ValueError("no candidates were scored on validation")
    order = {id(s): i for i, s in enumerate(scored)}
    return min(scored, key=lambda s: (-s.correct, s.candidate.cost, order[id(s)]))


def choose_threshold(confidences: Sequence[float], predicted: Sequence[str], truth: Sequence[str],
                     oos: str) -> float:
    """Confidence threshold (0..0.99) that maximises the mean of in-scope accuracy and OOS recall
    on the examples given (validation ones: the rule's step 4); the lowest such threshold."""
    best_t, best_score = 0.0, -1.0
    for t in np.linspace(0.0, 0.99, 100):
        in_scope, recall = threshold_scores(confidences, predicted, truth, float(t), oos)
        if (in_scope + recall) / 2 > best_score:
            best_t, best_score = float(t), (in_scope + recall) / 2
    return best_t


def threshold_scores(confidences: Sequence[float], predicted: Sequence[str], truth: Sequence[str],
                     threshold: float, oos: str) -> Tuple[float, float]:
    """(in-scope accuracy, out-of-scope recall) when predictions under ``threshold`` become ``oos``."""
    final = [oos if (p == oos or c < threshold) else p for c, p in zip(confidences, predicted)]
    in_scope = [p == t for p, t in zip(final, truth) if t != oos]
    recall = [p == oos for p, t in zip(final, truth) if t == oos]
    return float(np.mean(in_scope)) if in_scope else 0.0, float(np.mean(recall)) if recall else 0.0


@dataclass(frozen=True)
class Selection:
    """A system's finished selection: what validation chose, and the chosen model to test."""

    system: str
    chosen: Scored
    scored: Tuple[Scored, ...]
    chosen_on: str
    validation_source: Mapping[str, Any]
    validation_ids: Tuple[str, ...]
    model: Any = None  # path of the chosen candidate's trained model
    threshold: Optional[float] = None

    def record(self) -> Dict[str, Any]:
        """The report's account of which split chose what."""
        record: Dict[str, Any] = {
            "chosen_on": self.chosen_on,
            "rule": "most correct on validation (typed, and spoken where given); ties: fewer epochs, then "
                    "declared order (bench/selection.py)",
            "validation": dict(self.validation_source),
            "validation_ids_sha256": ids_digest(self.validation_ids),
            "candidates": [
                {"name": s.candidate.name, "settings": dict(s.candidate.overrides), "epochs": s.candidate.cost,
                 "spoken_train": s.candidate.spoken_train,
                 # correct / examples: what the rule compares (typed and spoken); accuracy: typed only
                 "validation_accuracy": round(s.typed_accuracy, 4), "validation_correct": s.correct,
                 "validation_examples": s.total, "train_seconds": round(s.train_seconds, 1),
                 **({"spoken_validation_correct": s.spoken_correct, "spoken_validation_examples": s.spoken_total}
                    if s.spoken_total else {})}
                for s in self.scored
            ],
            "chosen": self.chosen.candidate.name,
            "selected_on_validation": {k: v for k, v in self.chosen.candidate.overrides.items()
                                       if len({repr(s.candidate.overrides.get(k)) for s in self.scored}) > 1},
            "fixed_a_priori": FIXED_A_PRIORI.get(self.system, "bench/configs as written; no grid"),
        }
        if len({s.candidate.spoken_train for s in self.scored}) > 1:
            record["selected_on_validation"]["spoken_train"] = self.chosen.candidate.spoken_train
        trained = {s.candidate.name for s in self.scored}
        left_out = [c.name for c in GRIDS.get(self.system, []) if c.name not in trained]
        if left_out:  # ``candidates`` leaves out only those with spoken training sentences
            record["left_out"] = {"candidates": left_out,
                                  "why": "declared with spoken training sentences, but no --spoken-train file was given"}
        if self.threshold is not None:
            record["threshold"] = {"value": round(self.threshold, 2), "chosen_on": self.chosen_on}
        return record


def select(system: str, scored: Sequence[Scored], validation_source: Mapping[str, Any],
           validation_ids: Sequence[str], models: Optional[Mapping[str, Any]] = None,
           threshold: Optional[float] = None) -> Selection:
    """Applies the rule to validation scores and returns the finished selection."""
    chosen = choose(scored)
    return Selection(system, chosen, tuple(scored), VALIDATION, dict(validation_source),
                     tuple(validation_ids), (models or {}).get(chosen.candidate.name), threshold)


def _check_spoken_rows(rows: Sequence[Mapping[str, Any]], examples: Sequence[Any], split: str) -> List[Mapping[str, Any]]:
    """``rows`` (``{text, label, transcript}``), refused (ValueError) unless each is a sentence of
    ``examples`` (the ``split`` named in the errors) with its label there."""
    labels: Dict[str, set] = {}
    for example in examples:
        labels.setdefault(example.text, set()).add(example.intent)
    if not rows:
        raise ValueError(f"the spoken {split} file has no rows")
    for row in rows:
        if not isinstance(row, Mapping):
            raise ValueError(f"a spoken {split} row is not an object: {str(row)[:40]!r}")
        text, label, transcript = row.get("text"), row.get("label"), row.get("transcript")
        if not isinstance(transcript, str):
            raise ValueError(f"a spoken {split} row has no transcript: {str(text)[:40]!r}")
        if label not in labels.get(text, ()):
            raise ValueError(f"spoken {split} row {str(text)[:40]!r} ({label!r}) is not a {split} "
                             "sentence with that label")
    return list(rows)


def check_spoken_validation(rows: Sequence[Mapping[str, Any]], validation: Sequence[Any]) -> List[Mapping[str, Any]]:
    """The spoken validation rows, each a validation sentence with its validation label: a
    transcript of any other sentence (a test one above all) would let the test split choose."""
    return _check_spoken_rows(rows, validation, "validation")


def check_spoken_training(rows: Sequence[Mapping[str, Any]], train: Sequence[Any]) -> List[Mapping[str, Any]]:
    """The spoken training rows, each a training sentence with its training label: a transcript
    of a validation or test sentence would put that sentence (as heard) into training."""
    return _check_spoken_rows(rows, train, "training")


def require_validation_selections(selections: Iterable[Selection]) -> List[Selection]:
    """Refuses (ValueError) unless there is at least one selection and each was made on validation."""
    selections = list(selections)
    if not selections:
        raise ValueError("the test split is read only after model selection: no selection was given")
    for s in selections:
        if not isinstance(s, Selection):
            raise ValueError(f"not a Selection: {s!r}")
        if s.chosen_on != VALIDATION:
            raise ValueError(f"{s.system}: chosen on {s.chosen_on!r}, not on validation; a configuration "
                             "tuned on test is not reported")
        if not s.validation_ids:
            raise ValueError(f"{s.system}: the selection names no validation examples")
    return selections


def ids_digest(ids: Iterable[str]) -> str:
    """sha256 over the sorted example ids: the report names exactly which examples a split held."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_disjoint(validation: Sequence[Tuple[str, Any]], test: Sequence[Tuple[str, Any]]) -> Dict[str, Any]:
    """Refuses (ValueError) when an example id is in both validation and test; returns the record
    (id digests, and texts the official splits repeat verbatim, by hash)."""
    shared = {i for i, _ in validation} & {i for i, _ in test}
    if shared:
        raise ValueError(f"{len(shared)} examples are in both validation and test (e.g. {sorted(shared)[:3]})")
    test_texts = {e.text for _, e in test}
    repeated = sorted({text_digest(e.text) for _, e in validation if e.text in test_texts})
    return {
        "disjoint_ids": True,
        "validation_ids_sha256": ids_digest(i for i, _ in validation),
        "test_ids_sha256": ids_digest(i for i, _ in test),
        # Distinct rows of the official files with the same text (a property of the dataset).
        "same_text_in_validation_and_test": len(repeated),
        "same_text_sha256_16": repeated,
    }


def comparability(fraction: float) -> Dict[str, Any]:
    """A run on a subsample is a code check, not a result to compare with published numbers."""
    if fraction < 1.0:
        return {"comparable": False,
                "why_not": f"--fraction {fraction}: train, validation and test were subsampled"}
    return {"comparable": True}


def require_reportable(report: Mapping[str, Any], selections: Mapping[str, Selection]) -> None:
    """Refuses (ValueError) a report with a system result that no validation selection backs, or
    whose recorded selection is not the one made on validation."""
    for name, result in report.get("systems", {}).items():
        selection = selections.get(name)
        if selection is None:
            raise ValueError(f"{name}: no validation selection backs this result; not reported")
        require_validation_selections([selection])
        if result.get("selection", {}).get("chosen_on") != VALIDATION:
            raise ValueError(f"{name}: the result does not carry its validation selection; not reported")
    if "comparable" not in report:
        raise ValueError("the report must say whether it is comparable (--fraction)")
