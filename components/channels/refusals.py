"""What a channel answers when it will not take a request: one code, HTTP status and message each.

The media package's catalogue (``components.media.errors``) explains refused *files*; this one
covers the channel's own refusals (the session, the sender, the text, the upload quota), so REST,
web chat and Slack never disagree on a code or a wording. Messages are for people: the customer
(text, session, quota), written in English and Chinese, or the integrator (sender token, in
English); none contains exception text.
"""

from typing import Dict, Tuple

from components.text.language import CHINESE, ENGLISH

BAD_REQUEST = "bad_request"
TEXT_TOO_LONG = "text_too_long"
UPLOAD_RATE_LIMITED = "upload_rate_limited"
UPLOAD_QUOTA_EXCEEDED = "upload_quota_exceeded"
INVALID_SESSION = "invalid_session"
SENDER_UNAUTHORIZED = "sender_unauthorized"
SENDER_RESERVED = "sender_reserved"
UNAUTHORIZED = "unauthorized"
STORAGE_UNAVAILABLE = "storage_unavailable"

# code -> (HTTP status, message template per language, filled with str.format(**fields)). The
# customer-facing refusals are written in each language the assistant speaks; the integrator's
# (bad request detail, sender token) stay English. A language without its own text gets English.
REFUSALS: Dict[str, Tuple[int, Dict[str, str]]] = {
    BAD_REQUEST: (400, {ENGLISH: "{detail}"}),
    TEXT_TOO_LONG: (413, {
        ENGLISH: "Your message is too long for me: I can read up to {limit} characters at a time. "
                 "Could you send it in shorter parts?",
        CHINESE: "您的消息太长了：我一次最多能读{limit}个字。能分成几段发送吗？",
    }),
    UPLOAD_RATE_LIMITED: (429, {
        ENGLISH: "You have sent {limit} files in a short time, which is the most I can take. "
                 "Please wait a few minutes and try again.",
        CHINESE: "您在短时间内已经发送了{limit}个文件，这是我能接收的上限。请过几分钟再试。",
    }),
    UPLOAD_QUOTA_EXCEEDED: (429, {
        ENGLISH: "You have sent {limit} of files in a short time, which is the most I can take. "
                 "Please wait a few minutes and try again.",
        CHINESE: "您在短时间内已经发送了{limit}的文件，这是我能接收的上限。请过几分钟再试。",
    }),
    INVALID_SESSION: (403, {
        ENGLISH: "This chat session is not valid any more. Please reload the page to start a new one.",
        CHINESE: "这个聊天会话已经失效了。请刷新页面，开始新的会话。",
    }),
    SENDER_UNAUTHORIZED: (401, {
        ENGLISH: "A valid sender token is required: send 'Authorization: Bearer <token>' signed for "
                 "this sender.",
    }),
    SENDER_RESERVED: (403, {
        ENGLISH: "This sender id belongs to another channel's conversations and cannot be used over REST.",
    }),
    UNAUTHORIZED: (401, {ENGLISH: "Sign in again to send files.", CHINESE: "请重新登录后再发送文件。"}),
    # The shared media store (S3, components.channels.shared_media) could not take the file, or
    # the shared upload quota's Redis (components.channels.quotas) did not answer.
    STORAGE_UNAVAILABLE: (503, {
        ENGLISH: "I couldn't save your file just now. Please try again in a moment.",
        CHINESE: "我现在没能保存您的文件。请稍后再试。",
    }),
}


def refusal_texts(code: str, **fields: object) -> Tuple[int, Dict[str, str]]:
    """(HTTP status, {language: message}) of a refusal code, in every language it is written in."""
    status, templates = REFUSALS[code]
    return status, {language: template.format(**fields) for language, template in templates.items()}


def refusal_text(code: str, **fields: object) -> Tuple[int, str]:
    """(HTTP status, English message) of a refusal code."""
    status, messages = refusal_texts(code, **fields)
    return status, messages[ENGLISH]
