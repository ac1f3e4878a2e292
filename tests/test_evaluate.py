"""The bot builder's evaluation command, run for real on a small dataset."""

import json

from components import evaluate
from components.evaluation.runner import Example, write_nlu_yaml
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
    assert evaluate.main(["--nlu", str(train), "--test-nlu", str(test), "--config", str(tmp_path / "config.yml"), "--out", str(out)]) == 0

    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == 4
    assert set(report["intent"]) >= {"order_status", "thank", "damaged_item", "greet", "accuracy", "macro avg"}
    assert {"precision", "recall", "f1-score", "support"} <= set(report["intent"]["thank"])
    assert report["intent"]["accuracy"] >= 0.75
    assert set(report["sentiment"]) >= {"negative", "neutral", "positive"}
    assert report["modality_subsets"] == {"text_only": {"examples": 4, "accuracy": report["intent"]["accuracy"]}}
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
