"""Word error rate with the text normalisation speech benchmarks need.

Whisper writes "12345", "1, 2, 3" or "one two three" for the same speech, so before comparing, text is
lower-cased, punctuation dropped, number words turned into digits and every digit string split into
single digits: numbers are then scored digit by digit whichever way the recogniser wrote them.
"""

import re
from typing import List, Sequence, Tuple

_UNITS = {
    "zero": 0, "oh": None, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(st|nd|rd|th)$")


def _is_number_word(w: str) -> bool:
    return (w in _UNITS and _UNITS[w] is not None) or w in _TENS or w in _SCALES


def _words_to_number(words: List[str]) -> int:
    """"two hundred and five" -> 205 (``and`` already removed by the caller)."""
    total, current = 0, 0
    for w in words:
        if w in _UNITS:
            current += _UNITS[w] or 0
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[w]
            current = 0
    return total + current


def _numbers_to_digits(tokens: List[str]) -> List[str]:
    """Replaces runs of number words with their value; "a"/"and" inside a number are dropped."""
    out: List[str] = []
    i = 0
    while i < len(tokens):
        if _is_number_word(tokens[i]) and tokens[i] not in _SCALES:
            run = [tokens[i]]
            j = i + 1
            while j < len(tokens):
                w = tokens[j]
                if _is_number_word(w):
                    # a new unit after a unit ("one two") starts a new number
                    if w in _UNITS and run[-1] in _UNITS and _UNITS[run[-1]] is not None:
                        break
                    if w in _TENS and run[-1] not in _SCALES:
                        break
                    run.append(w)
                    j += 1
                elif w == "and" and j + 1 < len(tokens) and _is_number_word(tokens[j + 1]) and run[-1] in _SCALES:
                    j += 1
                else:
                    break
            out.append(str(_words_to_number(run)))
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return out


def normalise_text(text: str) -> List[str]:
    """Lower-cased words with numbers as single digits, e.g. "Order #1,234!" -> ["order", "1", "2", "3", "4"]."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"(?<=\d)[,.](?=\d)", "", t)  # 1,234 -> 1234 ; 3.50 -> 350 (scored digit by digit)
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    t = t.replace("'", "")  # "can't" and "cant" score as the same word
    tokens = [w for w in t.split() if w]
    tokens = [_ORDINAL_SUFFIX.sub(r"\1", w) for w in tokens]
    tokens = _numbers_to_digits(tokens)
    out: List[str] = []
    for w in tokens:
        if w.isdigit():
            out.extend(list(w))
        else:
            # "abc123" -> "abc", "1", "2", "3": letters and digits scored separately
            for part in re.findall(r"[a-z]+|\d", w):
                out.append(part)
    return out


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_errors(reference: str, hypothesis: str) -> Tuple[int, int]:
    """(errors, reference words) after normalisation."""
    ref, hyp = normalise_text(reference), normalise_text(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: total word errors over total reference words."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    errors = words = 0
    for r, h in zip(references, hypotheses):
        e, n = word_errors(r, h)
        errors += e
        words += n
    return errors / words if words else 0.0
