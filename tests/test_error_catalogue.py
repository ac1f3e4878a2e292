"""The error catalogue is the one list of codes: the README's list is checked against it, and every
message reads as something the assistant can say (no placeholder left, no exception text)."""

import re
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
