"""Which language a customer wrote in (Chinese or English), from the characters alone.

Pure Python and instant, so the action server and every channel can call it on every message.
A Han character carries about as much as an English word, so the text counts as Chinese when it
has at least as many Han characters as Latin words ("我的order在哪里" is Chinese, "where is my
order, 谢谢" English). Email addresses, URLs and tokens with digits (postcodes, order and error
codes) are no words of any language, and one Latin word alone ("ok") is too little to switch on:
such text has no language, and callers keep the conversation's previous one.
"""

import re
from typing import Optional

CHINESE = "zh"
ENGLISH = "en"
# The languages the reference assistant answers in; the first is the default.
SUPPORTED_LANGUAGES = (ENGLISH, CHINESE)
# The dialogue slot holding the conversation's language (set by the action server from each
# message, read by the responses' conditions and by the channels' language hint).
LANGUAGE_SLOT = "language"
# A language tag as clients send it ("zh", "zh-CN", "en_US"): a primary subtag and optional parts.
LANGUAGE_TAG_PATTERN = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8}){0,3}")

HAN_PATTERN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD_PATTERN = re.compile(r"[A-Za-z]{2,}|\b[Ia]\b")
# Emails, URLs and any token holding a digit: the same in every language.
NOT_WORDS_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+|(?:https?://|www\.)[!-~]+|[A-Za-z]*\d[A-Za-z0-9-]*")
MIN_LATIN_WORDS = 2


def has_han(text: str) -> bool:
    """True when the text contains at least one Chinese (Han) character."""
    return bool(HAN_PATTERN.search(text or ""))


def primary_language(tag: object) -> Optional[str]:
    """The lower-case primary subtag of a language tag ("zh-CN" -> "zh"), None if it is none."""
    if not isinstance(tag, str) or len(tag) > 35:
        return None
    match = LANGUAGE_TAG_PATTERN.fullmatch(tag.strip())
    return match.group(1).lower() if match else None


def supported_language(tag: object) -> Optional[str]:
    """A client's or a slot's language tag as one of SUPPORTED_LANGUAGES ("zh-CN" -> "zh"), or
    None for anything else (a hint is only ever used to choose among what is configured)."""
    primary = primary_language(tag)
    return primary if primary in SUPPORTED_LANGUAGES else None


def detect_language(text: Optional[str]) -> Optional[str]:
    """``"zh"``, ``"en"``, or None when the text has no letters of either script."""
    text = NOT_WORDS_PATTERN.sub(" ", text or "")
    han = len(HAN_PATTERN.findall(text))
    words = len(LATIN_WORD_PATTERN.findall(text))
    if han and han >= words:
        return CHINESE
    if words >= MIN_LATIN_WORDS:
        return ENGLISH
    return None
