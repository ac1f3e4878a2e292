"""decode_image: the resolver's pixel cap, and catalogue errors that never carry decoder text."""

import base64
import io

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


def mpo_bytes() -> bytes:
    """A multi-picture JPEG as phone cameras write them (Pillow format "MPO"): two pictures."""
    first = Image.new("RGB", (64, 48), (200, 30, 30))
    second = Image.new("RGB", (64, 48), (30, 200, 30))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    return buffer.getvalue()


def test_a_multi_picture_jpeg_from_a_phone_is_a_jpeg():
    """Issue 12: MPO photos were refused as damaged. They are JPEGs with extra pictures appended:
    accepted as image/jpeg and decoded to their first picture."""
    data = mpo_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "MPO" and opened.n_frames == 2  # really a multi-picture file
    uri = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    attachment = resolve_reference(MediaReference(form="data", location=uri, kind="image"), MediaPolicy())
    assert (attachment.kind, attachment.mime) == ("image", "image/jpeg")
    image = decode_image(attachment.data, source="phone.jpg")
    red, green, _ = image.getpixel((10, 10))
    assert image.size == (64, 48) and red > 150 and green < 80  # the first picture
    # a damaged one is still refused
    with pytest.raises(AttachmentError) as caught:
        resolve_reference(
            MediaReference(form="data", location="data:image/jpeg;base64," + base64.b64encode(data[:300]).decode(), kind="image"),
            MediaPolicy(),
        )
    assert caught.value.code == "corrupt"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_huge_photo_is_shrunk_while_it_is_decoded(fmt: str) -> None:
    """Issue 12: five 40-megapixel photos in one message grew the server by over 1 GB (every step
    after decoding copied the full image). With ``max_side`` the picture is shrunk right after
    decoding, keeping its aspect and orientation-independent size limit."""
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 6600), (200, 120, 40)).save(buffer, fmt)
    image = decode_image(buffer.getvalue(), source="huge", max_side=2048)
    assert max(image.size) <= 2048 and image.size[1] > image.size[0]
    assert image.getpixel((5, 5))[0] > 150  # still the picture, not a blank
    small = encode(Image.new("RGB", (320, 240), (10, 20, 30)), "PNG")
    assert decode_image(small, max_side=2048).size == (320, 240)  # small images are untouched
