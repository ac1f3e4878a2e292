"""References typed in plain text, so a channel that carries only text (``rasa shell``,
``/model/parse``) can still send a photo or a voice message.

Recognised, in this order (earlier forms win where they overlap):
- a markdown image ``![alt](target)`` (any target; ``<...>`` allows spaces in paths);
- a markdown link ``[text](target)`` whose target is media (media extension or data: URI);
- a bare ``data:image/...;base64,...`` or ``data:audio/...`` URI;
- a bare http(s) URL whose path ends in a media extension;
- a bare path under a configured media root (``data/media/parcel.jpg``) with a media extension.
A bare word like ``photo.jpg`` is not a reference: customers write file names in sentences.
The recognised text is removed and the whitespace at each cut tidied, so the NLU sees only words.
"""

import os
import re
from typing import List, Optional, Tuple

from components.media.attachment import MediaReference
from components.media.mime import IMAGE, kind_of_mime, kind_of_name
from components.media.policy import MediaPolicy

# Bounded, bracket-free pieces keep every pattern linear on hostile input (no nested scans).
_TARGET = (
    r"\(\s*(?:<(?P<angle>[^<>\n]{1,2000})>|(?P<plain>[^\s()<>]+))"
    r"(?:\s+\"[^\"\n]{0,100}\")?\s*\)"
)
_MD_IMAGE = re.compile(r"!\[(?P<alt>[^\[\]\n]{0,300})\]" + _TARGET)
_MD_LINK = re.compile(r"(?<!!)\[(?P<alt>[^\[\]\n]{0,300})\]" + _TARGET)
_DATA_URI = re.compile(
    r"data:(?:image|audio|video)/[\w.+-]+(?:;[\w.+=-]+)*;base64,[A-Za-z0-9+/_-]+=*", re.IGNORECASE
)
_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+", re.IGNORECASE)
_TOKEN = re.compile(r"[^\s\"'<>()\[\]`]+")  # maximal runs: linear scan, no backtracking
_TRAILING = ".,;:!?"
_JOIN_BEFORE = ",.;:!?)"


def classify_location(location: str) -> str:
    """'data', 'url' or 'path' for a reference string, by its scheme (metadata entries and
    inline references alike)."""
    lowered = location.strip().lower()
    if lowered.startswith("data:"):
        return "data"
    if lowered.startswith(("http://", "https://")):
        return "url"
    return "path"


def _is_media_target(target: str) -> bool:
    """True when a link target points at media by its extension or data: URI type."""
    if target.lower().startswith("data:"):
        return kind_of_mime(target[5:].split(";", 1)[0].split(",", 1)[0]) is not None
    return kind_of_name(target.split("?", 1)[0].split("#", 1)[0]) is not None


def _root_prefixes(policy: MediaPolicy) -> Tuple[str, ...]:
    """Prefixes a bare path may start with: each root as configured, absolute and real."""
    prefixes = set()
    for configured, real in zip(policy.media_roots, policy.root_paths()):
        for root in (configured, os.path.abspath(configured), real):
            prefixes.add(root.rstrip("/") + "/")
    return tuple(prefixes)


def _under_root(path: str, prefixes: Tuple[str, ...]) -> bool:
    """True when a bare path starts with a media root prefix (``./`` ignored)."""
    return (path[2:] if path.startswith("./") else path).startswith(prefixes)


def _reference(target: str, name: Optional[str], default_kind: Optional[str]) -> MediaReference:
    """A MediaReference for an inline target; the kind comes from its extension or data: type."""
    form = classify_location(target)
    if form == "data":
        kind = kind_of_mime(target[5:].split(";", 1)[0].split(",", 1)[0])
    else:
        kind = kind_of_name(target.split("?", 1)[0].split("#", 1)[0])
    return MediaReference(
        form=form, location=target, kind=kind or default_kind, name=name or None, inline=True
    )


Span = Tuple[int, int, MediaReference]


def _merge(taken: List[Span], candidates: List[Span]) -> List[Span]:
    """``taken`` plus the ``candidates`` that overlap none of its spans (earlier forms win).

    Both lists are sorted and free of overlaps within themselves (each comes from one
    left-to-right scan), so one walk over both is enough: linear, however many references a
    hostile text holds (inserting each span into a sorted list was quadratic)."""
    accepted: List[Span] = []
    index = 0
    for candidate in candidates:
        start, end = candidate[0], candidate[1]
        while index < len(taken) and taken[index][1] <= start:
            index += 1
        if index < len(taken) and taken[index][0] < end:
            continue  # overlaps a span of an earlier form
        accepted.append(candidate)
    # Two sorted runs: Timsort merges them in linear time.
    return sorted(taken + accepted, key=lambda span: span[0])


def find_inline_references(text: str, policy: MediaPolicy) -> Tuple[List[MediaReference], str]:
    """(references in text order, text with them removed and whitespace tidied).

    Each form is one left-to-right scan with a linear pattern, and the spans of the forms are
    merged by walking sorted lists, so the cost is linear in the text."""
    if not text:
        return [], text or ""
    forms: List[List[Span]] = [[], [], [], [], []]
    for match in _MD_IMAGE.finditer(text):
        target = (match.group("angle") or match.group("plain")).strip()
        forms[0].append(
            (match.start(), match.end(), _reference(target, match.group("alt").strip(), IMAGE))
        )
    for match in _MD_LINK.finditer(text):
        target = (match.group("angle") or match.group("plain")).strip()
        if _is_media_target(target):
            forms[1].append(
                (match.start(), match.end(), _reference(target, match.group("alt").strip(), None))
            )
    for match in _DATA_URI.finditer(text):
        forms[2].append((match.start(), match.end(), _reference(match.group(0), None, None)))
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if _is_media_target(url):
            forms[3].append((match.start(), match.start() + len(url), _reference(url, None, None)))
    prefixes = _root_prefixes(policy)
    for match in _TOKEN.finditer(text):
        path = match.group(0).rstrip(_TRAILING)
        if _under_root(path, prefixes) and kind_of_name(path):
            forms[4].append((match.start(), match.start() + len(path), _reference(path, None, None)))

    found: List[Span] = []
    for candidates in forms:
        found = _merge(found, candidates)
    if not found:
        return [], text
    return [ref for _, _, ref in found], remove_spans(text, [(s, e) for s, e, _ in found])


def remove_spans(text: str, spans: List[Tuple[int, int]]) -> str:
    """Cuts the spans out of ``text``, leaving one space (or none before punctuation) at each cut.

    Builds the result in one pass (linear in the text, however many references it holds)."""
    pieces: List[str] = []
    position = 0
    for start, end in sorted(spans):
        pieces.append(text[position:start])
        position = end
    pieces.append(text[position:])
    result = pieces[0].rstrip(" \t")
    last = len(pieces) - 1
    for index in range(1, len(pieces)):
        right = pieces[index].lstrip(" \t")
        if index < last:
            right = right.rstrip(" \t")
        if not right:
            continue
        if result and not (
            right[0] in _JOIN_BEFORE or result.endswith("\n") or right.startswith("\n")
        ):
            result += " "
        result += right
    return result.strip()
