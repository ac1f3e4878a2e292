"""What a channel answers when it will not take a request: one code, HTTP status and message each.

The media package's catalogue (``components.media.errors``) explains refused *files*; this one
covers the channel's own refusals (the session, the sender, the text, the upload quota), so REST,
web chat and Slack never disagree on a code or a wording. Messages are for people: the customer
(text, session, quota) or the integrator (sender token); none contains exception text.
"""

from typing import Dict, Tuple

BAD_REQUEST = "bad_request"
TEXT_TOO_LONG = "text_too_long"
UPLOAD_RATE_LIMITED = "upload_rate_limited"
UPLOAD_QUOTA_EXCEEDED = "upload_quota_exceeded"
INVALID_SESSION = "invalid_session"
SENDER_UNAUTHORIZED = "sender_unauthorized"
SENDER_RESERVED = "sender_reserved"
UNAUTHORIZED = "unauthorized"
STORAGE_UNAVAILABLE = "storage_unavailable"

# code -> (HTTP status, message template filled with str.format(**fields)).
REFUSALS: Dict[str, Tuple[int, str]] = {
    BAD_REQUEST: (400, "{detail}"),
    TEXT_TOO_LONG: (
        413,
        "Your message is too long for me: I can read up to {limit} characters at a time. "
        "Could you send it in shorter parts?",
    ),
    UPLOAD_RATE_LIMITED: (
        429,
        "You have sent {limit} files in a short time, which is the most I can take. "
        "Please wait a few minutes and try again.",
    ),
    UPLOAD_QUOTA_EXCEEDED: (
        429,
        "You have sent {limit} of files in a short time, which is the most I can take. "
        "Please wait a few minutes and try again.",
    ),
    INVALID_SESSION: (
        403,
        "This chat session is not valid any more. Please reload the page to start a new one.",
    ),
    SENDER_UNAUTHORIZED: (
        401,
        "A valid sender token is required: send 'Authorization: Bearer <token>' signed for this sender.",
    ),
    SENDER_RESERVED: (
        403,
        "This sender id belongs to another channel's conversations and cannot be used over REST.",
    ),
    UNAUTHORIZED: (401, "Sign in again to send files."),
    # The shared media store (S3, components.channels.shared_media) could not take the file.
    STORAGE_UNAVAILABLE: (
        503,
        "I couldn't save your file just now. Please try again in a moment.",
    ),
}


def refusal_text(code: str, **fields: object) -> Tuple[int, str]:
    """(HTTP status, message) of a refusal code."""
    status, template = REFUSALS[code]
    return status, template.format(**fields)
