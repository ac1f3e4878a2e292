"""The bot builder's evaluation command, run for real on a small dataset."""

import json
import math
import runpy
import sys

import pytest

from components.evaluation.runner import Example, write_nlu_yaml
from components.evaluation.stats import latency_ms, percentile
from tests.nlu_pipeline import SHOP_EXAMPLES

CONFIG = """
recipe: default.v1
language: en
pipeline:
  - name: WhitespaceTokenizer
  - name: components.sentence_featurizer.SentenceEmbeddingFeaturizer
  - name: components.fusion_classifier.MultimodalFusionClassifier
    epochs: 40
    hidden_size: 64
    num_heads: 2
    validation_fraction: 0
policies: []
"""


def run_module(argv) -> int:
    """Runs ``python -m components.evaluation ARGV`` in this process (the documented entry point)."""
    saved = sys.argv
    sys.argv = ["python -m components.evaluation", *argv]
    try:
        with pytest.raises(SystemExit) as exited:
            runpy.run_module("components.evaluation", run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved
    return exited.value.code


def test_evaluation_writes_per_intent_and_sentiment_reports_and_a_confusion_png(tmp_path):
    train = write_nlu_yaml([Example(t, i, m or {}) for t, i, m in SHOP_EXAMPLES], tmp_path / "train.yml")
    test = write_nlu_yaml(
        [
            Example("where is my parcel", "order_status", {"sentiment": "neutral"}),
            Example("thank you kindly", "thank", {"sentiment": "positive"}),
            Example("the glass came shattered", "damaged_item", {"sentiment": "negative"}),
            Example("hi!", "greet", {"sentiment": "neutral"}),
        ],
        tmp_path / "test.yml",
    )
    (tmp_path / "config.yml").write_text(CONFIG)
    out = tmp_path / "out"
    argv = ["--nlu", str(train), "--test-nlu", str(test), "--config", str(tmp_path / "config.yml"), "--out", str(out)]
    assert run_module(argv) == 0

    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == 4
    assert set(report["intent"]) >= {"order_status", "thank", "damaged_item", "greet", "accuracy", "macro avg"}
    assert {"precision", "recall", "f1-score", "support"} <= set(report["intent"]["thank"])
    assert report["intent"]["accuracy"] >= 0.75
    assert set(report["sentiment"]) >= {"negative", "neutral", "positive"}
    assert report["modality_subsets"] == {"text_only": {"examples": 4, "accuracy": report["intent"]["accuracy"]}}
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_explains_itself_and_refuses_a_model_without_test_data(tmp_path, capsys):
    assert run_module(["--help"]) == 0
    assert "python -m components.evaluation --nlu data/" in capsys.readouterr().out
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    assert run_module(["--model", str(model)]) == "--model needs --test-nlu: a trained model can only be tested on held-out data."


def test_one_percentile_interpolates_and_tolerates_no_samples():
    assert percentile([0.1, 0.2, 0.3, 0.4], 50) == pytest.approx(0.25)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert math.isnan(percentile([], 50))
    assert latency_ms([0.010, 0.020, 0.030]) == {"p50_ms": 20.0, "p95_ms": 29.0}
