"""The error catalogue is the one list of codes: the README's list is checked against it, and every
message reads as something the assistant can say (no placeholder left, no exception text)."""

import re
import string
from pathlib import Path
from typing import Set

import pytest

from components.media import errors

README = Path(__file__).resolve().parents[1] / "README.md"
_PARAGRAPH_START = "`attachment_errors` codes"


def readme_codes() -> Set[str]:
    """The codes the README's "`attachment_errors` codes" paragraph names (backticked words)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(_PARAGRAPH_START)
    paragraph = text[start:].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z_]+)`", paragraph)) - {"attachment_errors"}


def test_readme_lists_exactly_the_catalogue_codes():
    assert readme_codes() == set(errors.MESSAGES)


@pytest.mark.parametrize("code", sorted(errors.MESSAGES))
@pytest.mark.parametrize("kind", ["image", "audio", None])
def test_every_message_is_complete_customer_text(code: str, kind):
    error = errors.make_error(code, "x.bin", kind, limit="10 MB", length="90 s long")
    assert error.code == code and error.source == "x.bin"
    assert "{" not in error.message and "}" not in error.message
    assert error.message[0].isupper() and error.message.rstrip()[-1] in ".?"


def test_unknown_codes_are_a_programming_error():
    with pytest.raises(KeyError):
        errors.make_error("no_such_code")


HAN = re.compile(r"[\u4e00-\u9fff]")
# The placeholders whose values read the same in Chinese (sizes, durations, counts) or that
# make_error words in Chinese itself (what, kinds).
LANGUAGE_NEUTRAL_FIELDS = {"what", "limit", "length", "kinds"}


def test_every_code_is_written_in_chinese_with_only_fields_that_read_in_chinese():
    assert set(errors.MESSAGES_ZH) == set(errors.MESSAGES)
    for code, template in errors.MESSAGES_ZH.items():
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        assert fields <= LANGUAGE_NEUTRAL_FIELDS, (code, fields)


@pytest.mark.parametrize("code", sorted(errors.MESSAGES))
@pytest.mark.parametrize("kind", ["image", "audio", None])
def test_every_chinese_message_is_complete_chinese_text(code: str, kind):
    error = errors.make_error(code, "x.bin", kind, limit="10 MB", length="300 ms")
    chinese = error.messages["zh"]
    assert error.messages["en"] == error.message and error.as_dict()["messages"] == error.messages
    assert "{" not in chinese and chinese.rstrip()[-1] in "。？" and HAN.search(chinese)
    assert not re.search(r"\b(photo|voice message|file|or)\b", chinese), chinese  # no English words


def test_a_chinese_customer_reads_which_formats_to_send_in_chinese():
    from components.media.policy import MediaPolicy
    from components.media.sniff import unsupported_type

    policy = MediaPolicy.from_config({"allowed_image_types": ["image/jpeg", "image/png"]})
    error = unsupported_type(policy, "invoice.pdf", "image")
    assert error.message == "I can't read that kind of file. Please send a photo (JPEG or PNG)."
    assert error.messages["zh"] == "这种文件我读不了。请发送照片（JPEG或PNG）。"
    assert errors.message_in(error.as_dict(), "zh") == error.messages["zh"]
    assert errors.message_in(error.as_dict(), "fr") == error.message  # no French: English
    assert errors.message_in({"message": "older entry"}, "zh") == "older entry"  # saved before messages


def test_the_channels_customer_refusals_are_written_in_chinese_and_the_integrators_in_english():
    from components.channels import refusals

    for code, (_status, templates) in refusals.REFUSALS.items():
        customer_facing = code not in (refusals.BAD_REQUEST, refusals.SENDER_UNAUTHORIZED, refusals.SENDER_RESERVED)
        assert ("zh" in templates) == customer_facing, code
    status, texts = refusals.refusal_texts(refusals.TEXT_TOO_LONG, limit="5,000")
    assert status == 413 and texts["zh"] == "您的消息太长了：我一次最多能读5,000个字。能分成几段发送吗？"
