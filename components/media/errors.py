"""The one catalogue of attachment error codes and what the assistant can tell the customer.

Every failure while turning a reference into media becomes an ``AttachmentError`` with a stable
``code`` (for actions, tests and logs) and a ``message`` written for the customer, so an action
can say it as is. Messages name the kind of media ("photo", "voice message") when it is known.
"""

from typing import Any, Dict, Optional

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

# Customer-facing message templates. Placeholders: {what} ("photo", "voice message" or "file"),
# {What} (capitalised), {limit} (human size or count), {kinds} (accepted formats).
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
        "kinds": "a photo (JPEG, PNG, WebP, GIF or BMP) or a voice message "
        "(WAV, FLAC, OGG/Opus, MP3, WebM or M4A)",
    }
    values.update(fields)
    return AttachmentError(code, MESSAGES[code].format(**values), source)
