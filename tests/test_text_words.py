"""The runtime word counter: a number is one word, whatever the WER normaliser does with it."""

import pytest

from components.audio.wer import normalise_text
from components.text.words import count_words, words


def test_an_order_number_is_one_word():
    assert count_words("order 12345") == 2
    assert len(normalise_text("order 12345")) == 6  # the benchmark scores digit by digit, on purpose


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Where is my order 12345?", ["where", "is", "my", "order", "12345"]),
        ("I can't pay £1,234.50!", ["i", "can't", "pay", "1,234.50"]),
        ("It’s error E-4021", ["it's", "error", "e", "4021"]),
        ("café crème", ["café", "crème"]),
    ],
)
def test_words_are_runs_of_letters_and_digits(text: str, expected: list):
    assert words(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "...", " - ", None])
def test_nothing_said_is_zero_words(text):
    assert count_words(text) == 0
