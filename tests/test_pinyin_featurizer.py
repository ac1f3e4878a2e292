"""PinyinFeaturizer: a misheard Mandarin transcript (homophones) keeps most of its features, the
vocabulary survives persistence, English text gets empty rows, bad settings are refused."""

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.bilingual_tokenizer import BilingualTokenizer
from components.pinyin_featurizer import PinyinFeaturizer


def _messages(*texts):
    tokenizer = BilingualTokenizer(BilingualTokenizer.get_default_config())
    messages = [Message(data={TEXT: t}) for t in texts]
    for m in messages:
        m.set(TOKENS_NAMES[TEXT], tokenizer.tokenize(m, TEXT))
    return messages


def _sentence(message):
    [features] = [f for f in message.features if f.type == "sentence" and f.origin == "pinyin"]
    return features.features.tocsr()


@pytest.fixture()
def trained(model_storage, resource, execution_context):
    config = PinyinFeaturizer.get_default_config()
    featurizer = PinyinFeaturizer.create(config, model_storage, resource("pinyin"), execution_context("pinyin"))
    data = TrainingData(_messages("合肥影院在哪里", "帮我查一下天气", "我的订单到哪里了"))
    saved = featurizer.train(data)
    return PinyinFeaturizer.load(config, model_storage, saved, execution_context("pinyin"))


def test_a_homophone_transcript_shares_most_features_with_what_was_said(trained):
    said, heard, other = _messages("合肥影院", "何非有怨", "帮我查一下天气")
    trained.process([said, heard, other])
    a, b, c = (set(_sentence(m).indices) for m in (said, heard, other))
    assert len(a & b) >= 3 and not (a & c)  # he, fei, yuan (and "he fei") survive the mishearing
    sequence = [f for f in said.features if f.type == "sequence"][0].features
    assert sequence.shape[0] == len(said.get(TOKENS_NAMES[TEXT]))


def test_english_text_gets_an_empty_row_of_the_same_width(trained):
    [english, chinese] = _messages("where is my order", "我的订单")
    trained.process([english, chinese])
    assert _sentence(english).nnz == 0 and _sentence(english).shape == _sentence(chinese).shape


@pytest.mark.parametrize("bad", [{"min_ngram": 0}, {"max_ngram": 9}, {"min_ngram": 3, "max_ngram": 2},
                                 {"min_count": "2"}, {"max_ngram": True}])
def test_settings_that_give_no_or_unbounded_features_are_refused(bad):
    with pytest.raises(InvalidConfigException):
        PinyinFeaturizer.validate_config({**PinyinFeaturizer.get_default_config(), **bad})


def test_repeated_syllables_are_counted_in_the_message_row_and_each_token_row(
    model_storage, resource, execution_context
):
    config = PinyinFeaturizer.get_default_config()
    featurizer = PinyinFeaturizer.create(config, model_storage, resource("pinyin_counts"), execution_context("pinyin"))
    featurizer.train(TrainingData(_messages("哈哈哈 好的")))
    [message] = _messages("哈哈哈 好的")
    featurizer.process([message])
    row = _sentence(message)
    vocabulary = featurizer._vocabulary
    assert row[0, vocabulary["ha"]] == 3 and row[0, vocabulary["ha ha"]] == 2 and row[0, vocabulary["ha ha ha"]] == 1
    assert row[0, vocabulary["ha hao"]] == 1  # across the token boundary, as said
    sequence = [f for f in message.features if f.type == "sequence" and f.origin == "pinyin"][0].features.tocsr()
    tokens = [t.text for t in message.get(TOKENS_NAMES[TEXT])]
    first = tokens.index("哈哈哈")
    assert sequence[first, vocabulary["ha"]] == 3 and sequence[first, vocabulary["ha hao"]] == 0
