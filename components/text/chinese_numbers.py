"""Order numbers spoken or written as Chinese digits ("一二三四五", "幺二三四五") become "12345".

Speech recognisers write digit strings the way they were spoken, and customers type them that way
too. Only runs of at least ``MIN_DIGITS`` digit characters are rewritten, so words that merely
contain a digit character (一下, 一样, 三星) stay as they are.
"""

import re

# Spoken digit readings: 幺 is "one" when reading out numbers, 两 only in counts, 〇/零 zero.
CHINESE_DIGITS = {
    "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
    "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    # Full-width Arabic digits from Chinese keyboards.
    "０": "0", "１": "1", "２": "2", "３": "3", "４": "4", "５": "5", "６": "6", "７": "7",
    "８": "8", "９": "9",
}
MIN_DIGITS = 3
_CHARS = "".join(CHINESE_DIGITS)
# A run of digit characters (Chinese or Arabic), optionally separated by spaces or dashes.
_RUN = re.compile(rf"[{_CHARS}0-9](?:[\s\-]?[{_CHARS}0-9])+")


def normalise_chinese_digits(text: str) -> str:
    """Rewrites runs of ``MIN_DIGITS``+ Chinese/full-width digits as Arabic digits."""
    def replace(match: "re.Match[str]") -> str:
        run = match.group(0)
        compact = re.sub(r"[\s\-]", "", run)
        if len(compact) < MIN_DIGITS or not any(c in CHINESE_DIGITS for c in compact):
            return run
        return "".join(CHINESE_DIGITS.get(c, c) for c in compact)

    return _RUN.sub(replace, text or "")
