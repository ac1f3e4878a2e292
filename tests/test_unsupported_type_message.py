"""``unsupported_type`` tells the customer what THIS assistant accepts, from its policy."""

import base64

import pytest
from PIL import Image

from components.media.attachment import MediaReference
from components.media.errors import UNSUPPORTED_TYPE, AttachmentError
from components.media.policy import MediaPolicy
from components.media.resolve import resolve_reference
from tests.image_utils import encode

PNG_ONLY = MediaPolicy(allowed_image_types=("image/png",))


def refusal(data: bytes, policy: MediaPolicy, mime: str = "", kind=None) -> AttachmentError:
    uri = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    with pytest.raises(AttachmentError) as caught:
        resolve_reference(MediaReference(form="data", location=uri, kind=kind), policy)
    return caught.value


@pytest.mark.parametrize("kind", ["image", None], ids=["declared_image", "no_claim"])
def test_a_png_only_policy_refuses_a_jpeg_naming_png_only(kind):
    error = refusal(encode(Image.new("RGB", (8, 8)), "JPEG"), PNG_ONLY, kind=kind)
    assert error.code == UNSUPPORTED_TYPE
    assert "PNG" in error.message
    assert "JPEG" not in error.message and "WAV" not in error.message


def test_unknown_bytes_list_every_format_the_policy_accepts():
    policy = MediaPolicy(allowed_image_types=("image/png",), allowed_audio_types=("audio/wav",))
    error = refusal(b"%PDF-1.7 not media", policy)
    assert error.code == UNSUPPORTED_TYPE
    assert error.message == "I can't read that kind of file. Please send a photo (PNG) or a voice message (WAV)."


def test_an_unknown_claimed_kind_lists_the_policys_formats():
    error = refusal(encode(Image.new("RGB", (8, 8))), PNG_ONLY, kind="video")
    assert error.code == UNSUPPORTED_TYPE and "a photo (PNG)" in error.message and "JPEG" not in error.message
