"""MultimodalFusionClassifier trained for real on features from real Rasa components."""

import copy
from pathlib import Path

import numpy as np
import pytest
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.constants import EXPLANATION, SENTIMENT, TEXT_FEATURES
from components.fusion_classifier import MultimodalFusionClassifier
from components.sentence_featurizer import SentenceEmbeddingFeaturizer
from tests.nlu_pipeline import SHOP_EXAMPLES, examples, make_component

FAST = {"epochs": 40, "validation_fraction": 0.0, "hidden_size": 64, "num_heads": 2}


@pytest.fixture()
def featurize(model_storage, resource, execution_context):
    """Tokenizer + word counts (alias 'words') + sentence embeddings, trained on the examples."""
    tokenizer = make_component(WhitespaceTokenizer, model_storage, resource, execution_context)
    counts = make_component(CountVectorsFeaturizer, model_storage, resource, execution_context, {"alias": "words"})
    sentences = make_component(SentenceEmbeddingFeaturizer, model_storage, resource, execution_context)
    trained = {}

    def run(data=None, texts=None):
        if data is not None:
            tokenizer.process_training_data(data)
            if "counts" not in trained:
                counts.train(data)
                trained["counts"] = True
            counts.process_training_data(data)
            sentences.process_training_data(data)
            return data
        messages = [Message(data={TEXT: t}) for t in texts]
        for component in (tokenizer, counts, sentences):
            component.process(messages)
        return messages

    return run


def train(model_storage, resource, execution_context, data, **config):
    classifier = make_component(
        MultimodalFusionClassifier, model_storage, resource, execution_context, {**FAST, **config}
    )
    classifier.train(data)
    return classifier


def probabilities(message):
    return {entry["name"]: entry["confidence"] for entry in message.get(INTENT_RANKING_KEY)}


def test_predicts_intent_sentiment_and_explanation_for_unseen_messages(
    featurize, model_storage, resource, execution_context
):
    data = featurize(examples(SHOP_EXAMPLES))
    classifier = train(model_storage, resource, execution_context, data, sparse_origins=["words"])
    angry, thanks, broken = featurize(
        texts=["where on earth is my parcel, this is a disgrace", "thank you very much", "my lamp came smashed"]
    )
    classifier.process([angry, thanks, broken])

    assert angry.get(INTENT)["name"] == "order_status"
    assert thanks.get(INTENT)["name"] == "thank"
    assert broken.get(INTENT)["name"] == "damaged_item"
    ranking = angry.get(INTENT_RANKING_KEY)
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
    assert ranking[0] == angry.get(INTENT)

    assert angry.get(SENTIMENT)["label"] == "negative"
    assert thanks.get(SENTIMENT)["label"] == "positive"
    assert sum(thanks.get(SENTIMENT)["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    [entity] = [e for e in thanks.get(ENTITIES) if e["entity"] == SENTIMENT]
    assert entity["value"] == "positive" and entity["extractor"] == "MultimodalFusionClassifier"

    weights = angry.get(EXPLANATION)["modality_weights"]
    assert set(weights) == {"text", "lexical"}  # image/speech not in this pipeline: not reported
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert {"intent", "intent_ranking", SENTIMENT, EXPLANATION} <= angry.as_dict_nlu().keys() | set(angry.output_properties)


def test_persist_and_load_restore_identical_predictions(featurize, model_storage, resource, execution_context):
    data = featurize(examples(SHOP_EXAMPLES))
    classifier = train(model_storage, resource, execution_context, data, sparse_origins=["words"])
    loaded = MultimodalFusionClassifier.load(
        classifier._config, model_storage, classifier._resource, execution_context("loaded")
    )
    texts = ["is my order on its way", "cheers", "box arrived crushed", "hello!"]
    first, second = featurize(texts=texts), featurize(texts=texts)
    classifier.process(first)
    loaded.process(second)
    for a, b in zip(first, second):
        assert a.get(INTENT)["name"] == b.get(INTENT)["name"]
        assert probabilities(a) == pytest.approx(probabilities(b), abs=1e-6)
        assert a.get(SENTIMENT) == b.get(SENTIMENT)


def test_training_is_seeded_and_deterministic(featurize, model_storage, resource, execution_context):
    data = featurize(examples(SHOP_EXAMPLES))
    runs = []
    for _ in range(2):
        classifier = train(model_storage, resource, execution_context, data, validation_fraction=0.2)
        [message] = featurize(texts=["where is my package"])
        classifier.process([message])
        runs.append(probabilities(message))
    assert runs[0] == pytest.approx(runs[1], abs=1e-6)


def test_absent_modality_is_masked_not_zero_filled(featurize, model_storage, resource, execution_context):
    """A modality whose featurizer emits all zeros answers exactly as if it were not there."""
    data = featurize(examples(SHOP_EXAMPLES))
    classifier = train(
        model_storage, resource, execution_context, data,
        modalities={"text": [TEXT_FEATURES], "image": ["image_features"]},
    )
    with_zeros, without = featurize(texts=["my order is late"]), featurize(texts=["my order is late"])
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE

    with_zeros[0].add_features(Features(np.zeros((1, 1281), np.float32), FEATURE_TYPE_SENTENCE, TEXT, "image_features"))
    classifier.process(with_zeros)
    classifier.process(without)
    assert probabilities(with_zeros[0]) == pytest.approx(probabilities(without[0]), abs=1e-6)
    assert set(with_zeros[0].get(EXPLANATION)["modality_weights"]) == {"text"}


def test_unlabelled_examples_are_masked_and_no_labels_means_no_sentiment(
    featurize, model_storage, resource, execution_context
):
    rows = [(text, intent) for text, intent, _ in SHOP_EXAMPLES]
    classifier = train(model_storage, resource, execution_context, featurize(examples(rows)))
    [message] = featurize(texts=["thanks a million"])
    classifier.process([message])
    assert message.get(INTENT)["name"] == "thank"
    assert message.get(SENTIMENT) is None
    assert not [e for e in message.get(ENTITIES, []) if e["entity"] == SENTIMENT]


def test_concat_baseline_trains_and_predicts(featurize, model_storage, resource, execution_context):
    classifier = train(model_storage, resource, execution_context, featurize(examples(SHOP_EXAMPLES)), fusion="concat")
    [message] = featurize(texts=["hello there"])
    classifier.process([message])
    assert message.get(INTENT)["name"] == "greet"


def test_rasa_fallback_classifier_keeps_confident_intents_and_falls_back_on_nonsense(
    featurize, model_storage, resource, execution_context
):
    """Through Rasa's own FallbackClassifier: the shop's messages (seen or not) score >= 0.93 here,
    nonsense <= 0.71, so a 0.85 threshold must keep the first and turn the rest into nlu_fallback."""
    classifier = train(model_storage, resource, execution_context, featurize(examples(SHOP_EXAMPLES)))
    fallback = make_component(FallbackClassifier, model_storage, resource, execution_context, {"threshold": 0.85})
    in_domain = {"where on earth is my parcel": "order_status", "thanks a lot": "thank", "it arrived broken": "damaged_item"}
    nonsense = ["purple elephants sing at midnight", "asdf qwer zxcv", "photosynthesis in plants"]
    messages = featurize(texts=[*in_domain, *nonsense])
    classifier.process(messages)
    fallback.process(messages)
    assert {m.get(TEXT): m.get(INTENT)["name"] for m in messages} == {
        **in_domain, **{text: "nlu_fallback" for text in nonsense}
    }


@pytest.mark.parametrize(
    "config, match",
    [
        ({"fusion": "magic"}, "'fusion' must be one of"),
        ({"hidden_size": 30, "num_heads": 4}, "divisible by 'num_heads'"),
        ({"modalities": {"text": []}}, "non-empty list of featurizer aliases"),
        ({"dropout": 1.5}, r"'dropout' must be in \[0, 1\)"),
    ],
)
def test_bad_config_is_a_clear_error(config, match, model_storage, resource, execution_context):
    with pytest.raises(InvalidConfigException, match=match):
        make_component(MultimodalFusionClassifier, model_storage, resource, execution_context, config)


def test_unknown_sentiment_label_names_the_example(featurize, model_storage, resource, execution_context):
    rows = copy.deepcopy(SHOP_EXAMPLES) + [("meh", "greet", {"sentiment": "grumpy"})]
    with pytest.raises(InvalidConfigException, match="'meh' has sentiment 'grumpy'"):
        train(model_storage, resource, execution_context, featurize(examples(rows)))


def test_missing_features_is_a_clear_error(model_storage, resource, execution_context):
    with pytest.raises(InvalidConfigException, match="Put the featurizers"):
        train(model_storage, resource, execution_context, examples(SHOP_EXAMPLES))


def test_fine_tuned_encoder_trains_persists_and_leaves_the_shared_encoder_alone(
    model_storage, resource, execution_context
):
    """End-to-end fine-tuning: the classifier computes text vectors with its own tuned copy,
    so it needs no sentence featurizer, saves the copy as safetensors and reloads identically."""
    from components.text.encoder import load_encoder

    shared = load_encoder(None)
    before = shared.encode(["where is my order"])
    tokenizer = make_component(WhitespaceTokenizer, model_storage, resource, execution_context)
    counts = make_component(CountVectorsFeaturizer, model_storage, resource, execution_context, {"alias": "words"})
    data = examples(SHOP_EXAMPLES)
    tokenizer.process_training_data(data)
    counts.train(data)
    counts.process_training_data(data)

    def featurize(texts):
        messages = [Message(data={TEXT: t}) for t in texts]
        tokenizer.process(messages)
        counts.process(messages)
        return messages

    classifier = train(
        model_storage, resource, execution_context, data,
        sparse_origins=["words"], fine_tune_encoder=True, fine_tune_epochs=2, fine_tune_batch_size=8,
        validation_fraction=0.0,
    )
    report = classifier._meta["training"]
    assert report["fine_tune_epochs_run"] == 2 and report["fine_tune_best_epoch"] == 2

    texts = ["where on earth is my parcel", "thank you so much", "my lamp came smashed", ""]
    first = featurize(texts)
    classifier.process(first)
    assert [m.get(INTENT)["name"] for m in first[:3]] == ["order_status", "thank", "damaged_item"]
    assert set(first[0].get(EXPLANATION)["modality_weights"]) == {"text", "lexical"}
    # Nothing to classify (no text, no media): Rasa's empty prediction, so FallbackClassifier can act.
    assert first[3].get(INTENT) == {"name": None, "confidence": 0.0}
    assert first[3].get(INTENT_RANKING_KEY) == []

    tuned = classifier._encoder.encode(["where is my order"])[:, :-1]
    assert np.abs(tuned - before).max() > 1e-3  # the copy moved ...
    assert shared.encode(["where is my order"]) == pytest.approx(before, abs=1e-6)  # ... the shared one did not

    with model_storage.read_from(classifier._resource) as directory:
        saved = sorted(p.name for p in (directory / "encoder").rglob("*") if p.is_file())
    assert "model.safetensors" in saved
    assert not [name for name in saved if name.endswith((".bin", ".pkl", ".pt"))]

    loaded = MultimodalFusionClassifier.load(
        classifier._config, model_storage, classifier._resource, execution_context("loaded")
    )
    second = featurize(texts)
    loaded.process(second)
    for a, b in zip(first[:3], second[:3]):
        assert probabilities(a) == pytest.approx(probabilities(b), abs=1e-6)


@pytest.mark.parametrize(
    "config, match",
    [
        ({"fine_tune_modality": "voice"}, "'fine_tune_modality' 'voice'"),
        ({"encoder_model_path": "/nonexistent/minilm"}, "is not a folder"),
        ({"fine_tune_epochs": -1}, "'fine_tune_epochs' must be a whole number"),
        ({"fine_tune_learning_rate": 0}, "'fine_tune_learning_rate' must be positive"),
        ({"int8_encoder": "yes"}, "'int8_encoder' must be true or false"),
        ({"int8_max_validation_drop": 1.5}, r"'int8_max_validation_drop' must be in \[0, 1\)"),
    ],
)
def test_bad_fine_tuning_config_is_a_clear_error(config, match, model_storage, resource, execution_context):
    with pytest.raises(InvalidConfigException, match=match):
        make_component(
            MultimodalFusionClassifier, model_storage, resource, execution_context,
            {"fine_tune_encoder": True, **config},
        )


def test_new_weights_in_the_fine_tuning_encoder_folder_change_rasas_fingerprint(tmp_path):
    """Rasa reuses a cached classifier while its fingerprint is unchanged: new encoder weights at
    the same ``encoder_model_path`` must change it, so `rasa train` retrains."""
    from rasa.engine.training.fingerprinting import calculate_fingerprint_key

    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    weights = folder / "model.safetensors"
    weights.write_bytes(b"first weights")
    config = {**MultimodalFusionClassifier.get_default_config(), "fine_tune_encoder": True, "encoder_model_path": str(folder)}

    def key(settings):
        return calculate_fingerprint_key(MultimodalFusionClassifier, settings, {})

    before = key(config)
    assert key(config) == before
    weights.write_bytes(b"second weights")
    assert key(config) != before
    # Without fine-tuning the folder is never read, so it does not enter the fingerprint.
    assert MultimodalFusionClassifier.fingerprint_addon({**config, "fine_tune_encoder": False}) is None


def test_fine_tuned_pipeline_trains_loads_and_parses_through_rasa(tmp_path):
    """`rasa train nlu` with bench/configs/fusion_finetuned.yml (no sentence featurizer), then
    Rasa's own Agent loads the archive (tuned encoder included) and parses."""
    import yaml

    from components.evaluation.runner import Example, ModelParser, train_nlu_model, write_nlu_yaml

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "bench/configs/fusion_finetuned.yml").read_text())
    config["pipeline"][-1].update(fine_tune_epochs=1, fine_tune_batch_size=8, **FAST)
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    nlu = write_nlu_yaml([Example(t, i, m) for t, i, m in SHOP_EXAMPLES], tmp_path / "nlu.yml")
    model = train_nlu_model(tmp_path / "config.yml", nlu, tmp_path / "models", "finetuned")
    parser = ModelParser(model)
    try:
        parsed = parser.parse("where on earth is my parcel")
        assert parsed.intent == "order_status" and parsed.sentiment in {"negative", "neutral"}
        assert set(parsed.parse["explanation"]["modality_weights"]) == {"text", "lexical"}
    finally:
        parser.close()
