"""Words as a customer wrote or said them, for decisions at runtime (not for scoring recognisers).

A word is a run of letters and digits, with inner apostrophes ("can't") and a number with its
separators ("12345", "1,234.50") kept whole: "order 12345" is two words. The WER normaliser in
``components/audio/wer.py`` splits numbers into digits on purpose, which is right for a benchmark
and wrong for "did the customer say anything" or "how fast did they speak".
"""

import re
from typing import List

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W_]+(?:['’][^\W_]+)*")


def words(text: str) -> List[str]:
    """The words of ``text``, case-folded, in order: "Order #12345, can't pay!" -> ["order", "12345", "can't", "pay"]."""
    return [w.casefold().replace("’", "'") for w in _WORD.findall(text or "")]


def count_words(text: str) -> int:
    """How many words ``text`` has (0 for empty text or punctuation only)."""
    return len(words(text))
