"""Media kinds and MIME names: a leaf module every other media module may import.

The names here are facts about formats, not settings: which MIME types the sniffer can recognise,
what aliases senders use for them, which file extensions mark a reference as media, and what a
customer calls each format. ``policy`` (limits) and ``sniff`` (the bytes decide) both build on it.
"""

import os
from typing import Dict, Iterable, Optional, Tuple

from components.text.language import CHINESE, ENGLISH

IMAGE = "image"
AUDIO = "audio"
KINDS = (IMAGE, AUDIO)

# Canonical MIME types the sniffer can recognise, per kind.
DEFAULT_IMAGE_TYPES: Tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
)
# audio/ogg covers Ogg Vorbis and Ogg Opus; audio/mp4 covers .m4a and .mp4 audio.
DEFAULT_AUDIO_TYPES: Tuple[str, ...] = (
    "audio/wav",
    "audio/flac",
    "audio/ogg",
    "audio/mpeg",
    "audio/webm",
    "audio/mp4",
)

# What a customer calls each canonical type, for messages such as "Please send a photo (JPEG or PNG)".
FORMAT_NAMES: Dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "audio/wav": "WAV",
    "audio/flac": "FLAC",
    "audio/ogg": "OGG/Opus",
    "audio/mpeg": "MP3",
    "audio/webm": "WebM",
    "audio/mp4": "M4A",
}

# Aliases seen in the wild -> canonical MIME type.
_MIME_ALIASES: Dict[str, str] = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-pn-wav": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/opus": "audio/ogg",
    "audio/vorbis": "audio/ogg",
    "audio/x-ogg": "audio/ogg",
    "application/ogg": "audio/ogg",
    "audio/oga": "audio/ogg",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "video/webm": "audio/webm",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/aac": "audio/mp4",
    "video/mp4": "audio/mp4",
}

# Short names a config may use -> canonical MIME type.
SHORT_NAMES: Dict[str, str] = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "mp3": "audio/mpeg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
}

# File extensions that mark a reference as media, and the kind each implies.
EXTENSION_KINDS: Dict[str, str] = {
    ".jpg": IMAGE,
    ".jpeg": IMAGE,
    ".png": IMAGE,
    ".webp": IMAGE,
    ".gif": IMAGE,
    ".bmp": IMAGE,
    ".wav": AUDIO,
    ".flac": AUDIO,
    ".ogg": AUDIO,
    ".oga": AUDIO,
    ".opus": AUDIO,
    ".mp3": AUDIO,
    ".webm": AUDIO,
    ".m4a": AUDIO,
    ".mp4": AUDIO,
}


def normalise_mime(mime: Optional[str]) -> Optional[str]:
    """Lower-cased MIME type without parameters, aliases mapped to the canonical name."""
    if not mime or not isinstance(mime, str):
        return None
    base = mime.split(";", 1)[0].strip().lower()
    if not base:
        return None
    if "/" not in base:
        return SHORT_NAMES.get(base.lstrip("."), base)
    return _MIME_ALIASES.get(base, base)


def kind_of_mime(mime: Optional[str]) -> Optional[str]:
    """'image' / 'audio' for a (normalised) MIME type, None for anything else."""
    mime = normalise_mime(mime)
    if mime is None:
        return None
    family = mime.split("/", 1)[0]
    if family == "image":
        return IMAGE
    if family in ("audio", "video"):
        return AUDIO
    return None


def is_media_claim(mime: Optional[str]) -> bool:
    """True when a declared type names a media type, so it must agree with the bytes.

    Generic labels (application/octet-stream, binary/octet-stream, text/plain) claim nothing:
    many servers and channels send them for every file, so they are ignored.
    """
    return kind_of_mime(mime) is not None


def kind_of_name(name: str) -> Optional[str]:
    """Kind implied by a path's or URL path's extension, None when it is not a media extension."""
    return EXTENSION_KINDS.get(os.path.splitext(name.lower())[1])


# The words of a format list per language: the noun of each kind, "or" and the list separator.
# A language missing here is described in English.
_FORMAT_WORDS: Dict[str, Dict[str, str]] = {
    ENGLISH: {IMAGE: "a photo", AUDIO: "a voice message", "or": " or ", "sep": ", ", "open": " (", "close": ")"},
    CHINESE: {IMAGE: "照片", AUDIO: "语音消息", "or": "或", "sep": "、", "open": "（", "close": "）"},
}


def _join_or(names: Iterable[str], words: Dict[str, str]) -> str:
    items = list(dict.fromkeys(names))
    if len(items) <= 1:
        return "".join(items)
    return words["sep"].join(items[:-1]) + words["or"] + items[-1]


def describe_formats(
    allowed_types: Iterable[str], kind: Optional[str] = None, language: str = ENGLISH
) -> str:
    """What a customer may send, in words of ``language``, from the allowed MIME types (of
    ``kind`` when given): 'a photo (JPEG or PNG) or a voice message (WAV, MP3 or M4A)',
    '照片（JPEG或PNG）或语音消息（WAV、MP3或M4A）'."""
    words = _FORMAT_WORDS.get(language, _FORMAT_WORDS[ENGLISH])
    allowed = [normalise_mime(m) or m for m in allowed_types]
    parts = []
    for each in (IMAGE, AUDIO):
        if kind is not None and kind != each:
            continue
        names = [FORMAT_NAMES.get(m, m) for m in allowed if kind_of_mime(m) == each]
        if names:
            parts.append(f"{words[each]}{words['open']}{_join_or(names, words)}{words['close']}")
    return words["or"].join(parts) if parts else words[IMAGE] + words["or"] + words[AUDIO]
