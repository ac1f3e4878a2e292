"""WER as the speech benchmark computes it: numbers count the same however the recogniser wrote them."""

import pytest

from components.audio.wer import edit_distance, normalise_text, wer


@pytest.mark.parametrize(
    "written",
    ["Where is my order 12345?", "Where is my order? 1, 2, 3, 4, 5.", "where is my order one two three four five"],
)
def test_number_spellings_normalise_to_the_same_words(written: str):
    assert normalise_text(written) == ["where", "is", "my", "order", "1", "2", "3", "4", "5"]


def test_compound_numbers_and_punctuation():
    assert normalise_text("I paid two hundred and five dollars") == ["i", "paid", "2", "0", "5", "dollars"]
    assert normalise_text("twenty five") == ["2", "5"]
    assert normalise_text("I can't pay £1,234.50!") == ["i", "cant", "pay", "1", "2", "3", "4", "5", "0"]
    assert normalise_text("my 1st card") == ["my", "1", "card"]


def test_edit_distance_and_corpus_wer():
    assert edit_distance("a b c".split(), "a x c d".split()) == 2
    assert wer(["where is my order"], ["where is my order"]) == 0.0
    # one substitution + one insertion over 4 reference words
    assert wer(["where is my order"], ["where is more order please"]) == pytest.approx(0.5)
    assert wer(["a b", "c d e f"], ["a b", "c d"]) == pytest.approx(2 / 6)
    with pytest.raises(ValueError):
        wer(["a"], [])
