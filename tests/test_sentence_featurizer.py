"""SentenceEmbeddingFeaturizer: real MiniLM from the package, real Rasa tokenizer."""

import numpy as np
import pytest
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from components.constants import TEXT_FEATURES
from components.sentence_featurizer import SentenceEmbeddingFeaturizer
from tests.nlu_pipeline import examples, make_component


@pytest.fixture()
def pipeline(model_storage, resource, execution_context):
    tokenizer = make_component(WhitespaceTokenizer, model_storage, resource, execution_context)
    featurizer = make_component(SentenceEmbeddingFeaturizer, model_storage, resource, execution_context)

    def run(texts):
        messages = [Message(data={TEXT: t}) for t in texts]
        tokenizer.process(messages)
        featurizer.process(messages)
        return messages

    return run


def test_sentence_and_token_aligned_sequence_features(pipeline):
    [message] = pipeline(["where is my parcel 12345"])
    sequence, sentence = message.get_dense_features(TEXT, [TEXT_FEATURES])
    assert sentence.features.shape == (1, 385)
    assert sequence.features.shape == (5, 385)  # one row per whitespace token
    assert sentence.features[0, -1] == 1.0  # presence flag
    assert np.isclose(np.linalg.norm(sentence.features[0, :-1]), 1.0, atol=1e-4)


def test_similar_requests_are_closer_than_unrelated_ones(pipeline):
    a, b, c = pipeline(["where is my parcel", "has my package shipped yet", "my card payment was declined"])
    vec = lambda m: m.get_dense_features(TEXT, [TEXT_FEATURES])[1].features[0, :-1]
    assert vec(a) @ vec(b) > vec(a) @ vec(c) + 0.1


def test_empty_text_keeps_the_width_and_flags_absence(pipeline):
    full, empty = pipeline(["hello there", ""])
    width = full.get_dense_features(TEXT, [TEXT_FEATURES])[1].features.shape
    sentence = empty.get_dense_features(TEXT, [TEXT_FEATURES])[1].features
    assert sentence.shape == width
    assert not sentence.any()


def test_training_batch_equals_one_by_one(model_storage, resource, execution_context, pipeline):
    data = examples([("track my order please", "a"), ("the vase arrived broken", "b"), ("hi", "c")])
    tokenizer = make_component(WhitespaceTokenizer, model_storage, resource, execution_context)
    featurizer = make_component(SentenceEmbeddingFeaturizer, model_storage, resource, execution_context, {"batch_size": 2})
    tokenizer.process_training_data(data)
    featurizer.process_training_data(data)
    single = pipeline([m.get(TEXT) for m in data.training_examples])
    for batched, alone in zip(data.training_examples, single):
        np.testing.assert_allclose(
            batched.get_dense_features(TEXT)[1].features, alone.get_dense_features(TEXT)[1].features, atol=1e-5
        )


def test_missing_model_folder_is_a_clear_config_error(model_storage, resource, execution_context, tmp_path):
    with pytest.raises(InvalidConfigException, match="model_path .* is not a folder"):
        make_component(
            SentenceEmbeddingFeaturizer, model_storage, resource, execution_context,
            {"model_path": str(tmp_path / "nope")},
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidConfigException, match="holds no sentence-transformers model"):
        make_component(
            SentenceEmbeddingFeaturizer, model_storage, resource, execution_context,
            {"model_path": str(tmp_path / "empty")},
        )
