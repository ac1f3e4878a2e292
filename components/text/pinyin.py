"""Toneless pinyin of the Chinese in a text: what a Mandarin speech transcript keeps when it is wrong.

Whisper's Mandarin errors on short queries are mostly homophones: "合肥影院" heard as "何非有怨"
shares no character with what was said but three of its four syllables (he fei ying yuan / he fei
you yuan). Features over syllables, not characters, let an intent classifier trained on written
text recognise such a transcript. Tones are dropped because the errors change them too. pypinyin
reads each character in the context of its phrase dictionary (多音字: 重庆 chong, 重要 zhong);
anything that is not a Han character (Latin words, digits, punctuation) has no syllable.
"""

from typing import List

# Characters read per call at most: a message is already bounded by the channels' max_text_chars;
# this keeps a training example or a direct caller from costing more than a few milliseconds.
MAX_CHARS = 5000


def syllables(text: str) -> List[str]:
    """The toneless pinyin syllables of the Han characters in ``text``, in order ("lv" for 绿)."""
    from pypinyin import Style, lazy_pinyin

    if not text:
        return []
    return [s for s in lazy_pinyin(text[:MAX_CHARS], style=Style.NORMAL, errors="ignore") if s.isalpha()]


def syllable_ngrams(items: List[str], min_n: int, max_n: int) -> List[str]:
    """Space-joined n-grams of ``items`` for every n from ``min_n`` to ``max_n``."""
    return [" ".join(items[i:i + n]) for n in range(min_n, max_n + 1) for i in range(len(items) - n + 1)]
