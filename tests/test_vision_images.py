"""decode_image: the resolver's pixel cap, and catalogue errors that never carry decoder text."""

import base64

import pytest
from PIL import Image

from components.media.errors import DECOMPRESSION_BOMB, IMAGE_UNREADABLE, MESSAGES, AttachmentError
from components.media.attachment import MediaReference
from components.media.policy import MediaPolicy
from components.media.resolve import resolve_reference
from components.vision.images import decode_image
from tests.image_utils import encode, png_claiming


def test_the_pixel_cap_is_the_resolvers():
    cap = MediaPolicy().max_image_pixels
    width = 8000
    over = png_claiming(width, cap // width + 1)  # one row past the policy's cap
    with pytest.raises(AttachmentError) as decoded:
        decode_image(over, source="big.png")
    assert decoded.value.code == DECOMPRESSION_BOMB and "40 million pixels" in decoded.value.message
    # the resolver refuses the same bytes for the same reason, with the same words
    data_uri = "data:image/png;base64," + base64.b64encode(over).decode()
    with pytest.raises(AttachmentError) as resolved:
        resolve_reference(MediaReference(form="data", location=data_uri, kind="image"), MediaPolicy())
    assert (resolved.value.code, resolved.value.message) == (decoded.value.code, decoded.value.message)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\nbroken", b"GIF89a-not-really", encode(Image.new("RGB", (64, 64)), "JPEG")[:200]],
    ids=["empty", "broken_png", "fake_gif", "truncated_jpeg"],
)
def test_damaged_images_give_the_catalogue_message_only(data: bytes):
    with pytest.raises(AttachmentError) as caught:
        decode_image(data, source="x.png")
    assert caught.value.code == IMAGE_UNREADABLE and caught.value.source == "x.png"
    assert caught.value.message == MESSAGES[IMAGE_UNREADABLE].format(what="photo")


def test_transparent_screenshots_are_put_on_white():
    clear = encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)))
    assert decode_image(clear).getpixel((0, 0)) == (255, 255, 255)
