"""Chinese text handling without a trained model: language detection, Chinese digits, the
bilingual tokenizer, the multilingual encoder, and that every customer-facing text has Chinese."""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from actions import media_actions, replies
from components.bilingual_tokenizer import BilingualTokenizer
from components.text.chinese_numbers import normalise_chinese_digits
from components.text.language import detect_language

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, language", [
    ("我的订单在哪里？", "zh"),
    ("我的order在哪里", "zh"),  # mixed: the Chinese carries the sentence
    ("订单12345到了吗", "zh"),
    ("我的邮箱是alex@example.com", "zh"),
    ("where is my order 12345?", "en"),
    ("where is my order, 谢谢", "en"),
    ("alex.morgan@example.com", None),  # an answer to the check keeps the conversation's language
    ("NW1 6XE", None),
    ("12345", None),
    ("ok", None),
    ("", None),
])
def test_language_of_a_message(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize("text, expected", [
    ("订单一二三四五", "订单12345"),
    ("幺二三四五在哪里", "12345在哪里"),
    ("订单号是五四三二一", "订单号是54321"),
    ("１２３４５", "12345"),
    ("零八六一二", "08612"),
    ("我想一下", "我想一下"),       # words with a digit character stay
    ("三星手机买了两个", "三星手机买了两个"),
    ("order 12345", "order 12345"),
])
def test_chinese_digits_become_arabic(text: str, expected: str) -> None:
    assert normalise_chinese_digits(text) == expected


def _tokens(text: str):
    tokenizer = BilingualTokenizer(BilingualTokenizer.get_default_config())
    return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message(data={"text": text}), "text")]


def test_chinese_is_cut_into_words_with_offsets_and_english_is_unchanged() -> None:
    tokens = _tokens("我的订单12345在哪里？")
    assert [t[0] for t in tokens] == ["我", "的", "订单", "12345", "在", "哪里"]
    text = "我的订单12345在哪里？"
    assert all(text[start:end] == word for word, start, end in tokens)
    whitespace = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    for english in ("where's my order? I don't know", "it's [12345], thanks :)", "E-4021 #2 a@b.com"):
        expected = whitespace.tokenize(Message(data={"text": english}), "text")
        assert _tokens(english) == [(t.text, t.start, t.end) for t in expected]
    assert [t[0] for t in _tokens("我的order在哪里，谢谢！")] == ["我", "的", "order", "在", "哪里", "谢谢"]


def test_the_multilingual_encoder_puts_a_chinese_question_next_to_its_english_twin() -> None:
    from components.text.multilingual import load_multilingual_encoder

    encoder = load_multilingual_encoder(2)
    vectors = encoder.encode(["我的订单在哪里？", "where is my order?", "I want to talk to a person"])
    assert vectors.shape == (3, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_every_action_text_and_button_has_english_and_chinese() -> None:
    for key, variants in {**replies.TEXTS, **replies.INTENT_TITLES}.items():
        assert set(variants) == {"en", "zh"}, key
        assert all(v.strip() for v in variants.values()), key
    assert set(media_actions.PAYMENT_ERROR_CODES_ZH) == set(media_actions.PAYMENT_ERROR_CODES)


def test_every_response_of_the_domain_has_a_chinese_variation() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for name, variations in domain["responses"].items():
        chinese = [v for v in variations
                   if {"type": "slot", "name": "language", "value": "zh"} in (v.get("condition") or [])]
        assert chinese, f"{name} has no Chinese variation"
        assert all(detect_language(v["text"]) == "zh" for v in chinese), name


def test_chinese_training_data_covers_every_intent_with_sentiment_labels() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    data = yaml.safe_load((ROOT / "data" / "nlu_zh.yml").read_text(encoding="utf-8"))
    blocks = {b["intent"]: b for b in data["nlu"] if "intent" in b}
    assert set(blocks) == set(domain["intents"])
    for intent, block in blocks.items():
        assert len(block["examples"]) >= 25, intent
        assert block["metadata"]["sentiment"] in {"negative", "neutral", "positive"}, intent
        for example in block["examples"]:
            label = (example.get("metadata") or {}).get("sentiment")
            assert label in (None, "negative", "neutral", "positive"), example
            words = re.sub(r"\{[^}]*\}|\([a-z_]+\)", "", str(example["text"]))
            assert detect_language(words) in ("zh", None), example
