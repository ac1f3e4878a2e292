"""The one catalogue of attachment error codes and what the assistant can tell the customer.

Every failure with a customer's media (resolving a reference, decoding audio or an image,
transcribing, reading text) becomes an ``AttachmentError`` with a stable ``code`` (for actions,
tests and logs) and a ``message`` written for the customer, so an action can say it as is.
Messages name the kind of media ("photo", "voice message") when it is known, and never carry
exception text: the cause goes to the log, the customer gets what to do. Each message is written
in English and in Chinese (the assistant's languages); whoever knows the customer's language picks
one (``message_in``). ``record_error`` is the one way a component puts an error on a message. The
README's code list is checked against ``MESSAGES`` by a test.
"""

from typing import Any, Dict, List, Optional, Sequence

from components.constants import ATTACHMENT_ERRORS
from components.media.mime import DEFAULT_AUDIO_TYPES, DEFAULT_IMAGE_TYPES, describe_formats
from components.text.language import CHINESE, ENGLISH

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

# Customer-facing message templates in English. Placeholders: {what} ("photo", "voice message" or
# "file"), {What} (capitalised), {limit} (human size, duration, count or pixel count), {length}
# (how long a voice message is), {kinds} (accepted formats: pass the policy's MIME types as
# ``formats=policy.allowed_types(kind)``; make_error words them in each language).
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

# The same messages in Chinese, written for a customer (not translated word by word). They use
# only the placeholders whose values read the same in Chinese: {what} and {kinds} (worded in
# Chinese by make_error), sizes and durations with units ("10 MB", "120 s", "300 ms") and counts.
# Where the English text words a value ("130 s long", a pixel count), the Chinese one leaves it out.
MESSAGES_ZH: Dict[str, str] = {
    NOT_FOUND: "没有找到您发来的{what}。能再发一次吗？",
    OUTSIDE_MEDIA_ROOT: "您提到的{what}不在我可以读取的文件夹里，我打不开。请直接把它附在消息里发送。",
    TOO_LARGE: "您发来的{what}超过了{limit}，这是我能接收的上限。能发一个小一点的吗？",
    UNSUPPORTED_TYPE: "这种文件我读不了。请发送{kinds}。",
    TYPE_MISMATCH: "您发来的{what}和它的文件名或类型不符，所以我没能打开。能再发一次吗？",
    CORRUPT: "您发来的{what}好像已经损坏了，我没能打开。能再发一次吗？",
    DECOMPRESSION_BOMB: "您发来的{what}像素太多，我打不开。能发一张小一点的图片吗？",
    UNREACHABLE: "您分享的{what}我没能下载下来。能直接作为附件发送，或者稍后再试吗？",
    PRIVATE_ADDRESS: "我不能从这个地址下载{what}。请直接把文件附在消息里发送。",
    UNAUTHORIZED: "我没有权限打开您分享的{what}。能直接把它附在消息里发送吗？",
    BAD_REFERENCE: "我没能理解您消息里的附件。能再发一次{what}吗？",
    TOO_MANY: "您一条消息里发的附件太多了，我只看了前{limit}个。其余的请分开再发一条消息。",
    AUDIO_EMPTY: "您发来的语音消息里没有声音。能重新录一条吗？",
    AUDIO_TOO_LONG: "您的语音消息太长了，我最多能听{limit}。能发一条短一点的吗？",
    AUDIO_TOO_SHORT: "您的语音消息只有{length}，我什么也没听到。能重新录一条吗？",
    AUDIO_UNUSUAL_FORMAT: "您的语音消息录制格式特殊（采样率或声道数超出了我能处理的范围），我听不了。"
    "能用手机自带的录音功能重新录一条，或者直接打字吗？",
    AUDIO_SILENT: "您的语音消息是静音的，我什么也没听到。能重新录一条吗？",
    AUDIO_NO_SPEECH: "我没能从您的语音消息里听出任何话。能再说一遍，或者直接打字吗？",
    TRANSCRIPTION_FAILED: "抱歉，我现在处理不了您的语音消息。能直接打字告诉我吗？",
    IMAGE_UNREADABLE: "您发来的{what}我没能打开。能用 JPEG 或 PNG 格式再发一次吗？",
    IMAGE_FEATURIZATION_FAILED: "抱歉，我现在看不了您的{what}。能描述一下上面是什么吗？",
    OCR_FAILED: "抱歉，我现在读不出您{what}里的文字。能把上面的内容打出来吗？",
}
# Every language an error message is written in; the English one is also the entry's "message".
CATALOGUES: Dict[str, Dict[str, str]] = {ENGLISH: MESSAGES, CHINESE: MESSAGES_ZH}

# What a customer calls each kind of media, per language (anything else is a "file").
_NOUNS: Dict[str, Dict[str, str]] = {
    ENGLISH: {"image": "photo", "audio": "voice message", "": "file"},
    CHINESE: {"image": "照片", "audio": "语音消息", "": "文件"},
}


def noun_for(kind: Optional[str], language: str = ENGLISH) -> str:
    """What a customer would call the media: 'photo', 'voice message', or 'file' (or in Chinese)."""
    nouns = _NOUNS.get(language, _NOUNS[ENGLISH])
    return nouns.get(kind or "", nouns[""])


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
    """A reference that could not be turned into media; ``message`` is customer-facing (English)
    and ``messages`` holds it in every language of the catalogue, for whoever knows the
    customer's language (the actions, the web chat page)."""

    def __init__(
        self, code: str, message: str, source: str = "", messages: Optional[Dict[str, str]] = None
    ) -> None:
        super().__init__(f"{code}: {message} (source: {source})")
        self.code = code
        self.message = message
        self.source = source
        self.messages: Dict[str, str] = dict(messages or {ENGLISH: message})

    def as_dict(self) -> Dict[str, Any]:
        """The ``attachment_errors`` entry for the parse output."""
        return {"source": self.source, "code": self.code, "message": self.message,
                "messages": dict(self.messages)}

    def in_language(self, language: Optional[str]) -> str:
        """The message in ``language`` when it is written in it, else English."""
        return message_in(self.as_dict(), language) or self.message

    def with_source(self, source: str) -> "AttachmentError":
        """The same error attributed to ``source`` (the reference as the customer gave it)."""
        return AttachmentError(self.code, self.message, source, self.messages)


def message_in(entry: Any, language: Optional[str]) -> Optional[str]:
    """The customer message of an ``attachment_errors`` entry (or an error response body) in
    ``language``, else its English ``message``; None for an entry that has neither."""
    if not isinstance(entry, dict):
        return None
    messages = entry.get("messages")
    chosen = messages.get(language) if isinstance(messages, dict) and language else None
    text = chosen if isinstance(chosen, str) and chosen else entry.get("message")
    return text if isinstance(text, str) and text else None


def make_error(
    code: str,
    source: str = "",
    kind: Optional[str] = None,
    formats: Optional[Sequence[str]] = None,
    **fields: Any,
) -> AttachmentError:
    """Builds an ``AttachmentError`` from the catalogue, worded in every language; ``formats``
    (MIME types) are the accepted formats ``{kinds}`` lists. Unknown codes are a programming error."""
    if code not in MESSAGES:
        raise KeyError(f"Unknown attachment error code '{code}'.")
    accepted = list(formats) if formats is not None else list(DEFAULT_IMAGE_TYPES + DEFAULT_AUDIO_TYPES)
    messages = {}
    for language, templates in CATALOGUES.items():
        what = noun_for(kind, language)
        values: Dict[str, Any] = {
            "what": what,
            "What": what[:1].upper() + what[1:],
            "limit": "",
            "length": "",
            **fields,
            "kinds": describe_formats(accepted, kind, language),
        }
        messages[language] = templates[code].format(**values)
    return AttachmentError(code, messages[ENGLISH], source, messages)


def record_error(message: Any, error: AttachmentError) -> None:
    """Appends ``error`` to the message's ``attachment_errors`` (parse output), never dropping
    earlier entries; the same (source, code) pair is recorded once, so two components failing on
    one file give one entry. ``message`` is a Rasa ``Message`` (duck-typed: ``get``/``set``)."""
    entries: List[Dict[str, str]] = list(message.get(ATTACHMENT_ERRORS) or [])
    if any(e.get("source") == error.source and e.get("code") == error.code for e in entries):
        return
    entries.append(error.as_dict())
    message.set(ATTACHMENT_ERRORS, entries, add_to_output=True)
