"""The one catalogue of attachment error codes and what the assistant can tell the customer.

Every failure with a customer's media (resolving a reference, decoding audio or an image,
transcribing, reading text) becomes an ``AttachmentError`` with a stable ``code`` (for actions,
tests and logs) and a ``message`` written for the customer, so an action can say it as is.
Messages name the kind of media ("photo", "voice message") when it is known, and never carry
exception text: the cause goes to the log, the customer gets what to do. ``record_error`` is the
one way a component puts an error on a message. The README's code list is checked against
``MESSAGES`` by a test.
"""

from typing import Any, Dict, List, Optional

from components.constants import ATTACHMENT_ERRORS
from components.media.mime import DEFAULT_AUDIO_TYPES, DEFAULT_IMAGE_TYPES, describe_formats

# Stable error codes. Actions and stories may branch on these strings: never rename one.
NOT_FOUND = "not_found"
OUTSIDE_MEDIA_ROOT = "outside_media_root"
TOO_LARGE = "too_large"
UNSUPPORTED_TYPE = "unsupported_type"
TYPE_MISMATCH = "type_mismatch"
CORRUPT = "corrupt"
DECOMPRESSION_BOMB = "decompression_bomb"
UNREACHABLE = "unreachable"
PRIVATE_ADDRESS = "private_address"
UNAUTHORIZED = "unauthorized"
BAD_REFERENCE = "bad_reference"
TOO_MANY = "too_many"
# Audio that resolved but cannot be listened to.
AUDIO_EMPTY = "audio_empty"
AUDIO_TOO_LONG = "audio_too_long"
AUDIO_TOO_SHORT = "audio_too_short"
AUDIO_UNUSUAL_FORMAT = "audio_unusual_format"
AUDIO_SILENT = "audio_silent"
AUDIO_NO_SPEECH = "audio_no_speech"
TRANSCRIPTION_FAILED = "transcription_failed"
# Images that resolved but that a component could not use.
IMAGE_UNREADABLE = "image_unreadable"
IMAGE_FEATURIZATION_FAILED = "image_featurization_failed"
OCR_FAILED = "ocr_failed"

# Customer-facing message templates. Placeholders: {what} ("photo", "voice message" or "file"),
# {What} (capitalised), {limit} (human size, duration or count), {kinds} (accepted formats, from
# the policy: pass ``kinds=describe_formats(policy.allowed_types(kind), kind)``), {seconds}.
MESSAGES: Dict[str, str] = {
    NOT_FOUND: "I couldn't find the {what} you sent. Could you send it again?",
    OUTSIDE_MEDIA_ROOT: (
        "I can't open the {what} you referred to: it is not in a folder I'm allowed to read. "
        "Please attach it to your message instead."
    ),
    TOO_LARGE: "The {what} you sent is larger than {limit}, which is the most I can accept. "
    "Could you send a smaller one?",
    UNSUPPORTED_TYPE: "I can't read that kind of file. Please send {kinds}.",
    TYPE_MISMATCH: "The {what} you sent isn't what its name or label says it is, so I couldn't "
    "open it. Could you send it again?",
    CORRUPT: "The {what} you sent seems to be damaged and I couldn't open it. "
    "Could you send it again?",
    DECOMPRESSION_BOMB: "The {what} you sent has too many pixels for me to open "
    "(more than {limit}). Could you send a smaller picture?",
    UNREACHABLE: "I couldn't download the {what} you shared. Could you attach it directly "
    "or try again in a moment?",
    PRIVATE_ADDRESS: "I can't download the {what} from that address. Please attach the file "
    "to your message instead.",
    UNAUTHORIZED: "I don't have permission to open the {what} you shared. Could you attach it "
    "directly to your message?",
    BAD_REFERENCE: "I couldn't make sense of the attachment in your message. "
    "Could you send the {what} again?",
    TOO_MANY: "You sent more attachments than I can look at in one message; I only looked "
    "at the first {limit}. Please send the rest in another message.",
    AUDIO_EMPTY: "The voice message you sent contains no sound. Could you record it again?",
    AUDIO_TOO_LONG: "Your voice message is {length}; the most I can listen to is {limit}. "
    "Could you send a shorter one?",
    AUDIO_TOO_SHORT: "Your voice message is only {length} long: I couldn't hear anything. "
    "Could you record it again?",
    AUDIO_UNUSUAL_FORMAT: "Your voice message is recorded in an unusual format I can't listen to "
    "(more than {limit}). Could you record it again with your phone's voice recorder, or type "
    "your message?",
    AUDIO_SILENT: "Your voice message is silent: I couldn't hear anything. "
    "Could you record it again?",
    AUDIO_NO_SPEECH: "I couldn't make out any words in your voice message. "
    "Could you say it again or type it?",
    TRANSCRIPTION_FAILED: "Sorry, I couldn't process your voice message right now. "
    "Could you type your message instead?",
    IMAGE_UNREADABLE: "I couldn't open the {what} you sent. Could you send it again, "
    "as a JPEG or PNG?",
    IMAGE_FEATURIZATION_FAILED: "Sorry, I couldn't look at your {what} right now. "
    "Could you describe what it shows?",
    OCR_FAILED: "Sorry, I couldn't read the text in your {what} right now. "
    "Could you type what it says?",
}

_NOUNS = {"image": "photo", "audio": "voice message"}


def noun_for(kind: Optional[str]) -> str:
    """What a customer would call the media: 'photo', 'voice message', or 'file'."""
    return _NOUNS.get(kind or "", "file")


def human_size(num_bytes: int) -> str:
    """'10 MB' style size for messages (decimal megabytes, as customers read them)."""
    if num_bytes >= 1_000_000:
        value = num_bytes / 1_000_000
        return f"{value:g} MB" if value == int(value) else f"{value:.1f} MB"
    if num_bytes >= 1_000:
        return f"{num_bytes // 1_000} kB"
    return f"{num_bytes} bytes"


def human_pixels(pixels: int) -> str:
    """'40 million pixels' style pixel count for messages."""
    return f"{pixels / 1_000_000:g} million pixels"


class AttachmentError(Exception):
    """A reference that could not be turned into media; ``message`` is customer-facing."""

    def __init__(self, code: str, message: str, source: str = "") -> None:
        super().__init__(f"{code}: {message} (source: {source})")
        self.code = code
        self.message = message
        self.source = source

    def as_dict(self) -> Dict[str, str]:
        """The ``attachment_errors`` entry for the parse output."""
        return {"source": self.source, "code": self.code, "message": self.message}

    def with_source(self, source: str) -> "AttachmentError":
        """The same error attributed to ``source`` (the reference as the customer gave it)."""
        return AttachmentError(self.code, self.message, source)


def make_error(
    code: str, source: str = "", kind: Optional[str] = None, **fields: Any
) -> AttachmentError:
    """Builds an ``AttachmentError`` from the catalogue; unknown codes are a programming error."""
    if code not in MESSAGES:
        raise KeyError(f"Unknown attachment error code '{code}'.")
    what = noun_for(kind)
    values: Dict[str, Any] = {
        "what": what,
        "What": what[:1].upper() + what[1:],
        "limit": "",
        "length": "",
        "kinds": describe_formats(DEFAULT_IMAGE_TYPES + DEFAULT_AUDIO_TYPES, kind),
    }
    values.update(fields)
    return AttachmentError(code, MESSAGES[code].format(**values), source)


def record_error(message: Any, error: AttachmentError) -> None:
    """Appends ``error`` to the message's ``attachment_errors`` (parse output), never dropping
    earlier entries; the same (source, code) pair is recorded once, so two components failing on
    one file give one entry. ``message`` is a Rasa ``Message`` (duck-typed: ``get``/``set``)."""
    entries: List[Dict[str, str]] = list(message.get(ATTACHMENT_ERRORS) or [])
    if any(e.get("source") == error.source and e.get("code") == error.code for e in entries):
        return
    entries.append(error.as_dict())
    message.set(ATTACHMENT_ERRORS, entries, add_to_output=True)
