"""Real test images made on the machine, and messages that carry them.

Photos are scikit-image's bundled BSD photos (a cat, a coffee cup, a rocket, an astronaut);
screenshots are drawn with Pillow's bundled font, so they look the same on every machine.
Attachments are built here (a local dataclass with the resolver's ``Attachment`` fields), so these
tests do not depend on ``components.media``.
"""

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np
import skimage.data
from PIL import Image, ImageDraw, ImageFont
from rasa.shared.nlu.training_data.message import Message

from components.constants import MEDIA


@dataclass(frozen=True)
class LocalAttachment:
    """The fields of ``components.media.attachment.Attachment`` that the image components read."""

    kind: str
    data: bytes = field(repr=False)
    mime: str
    sha256: str
    source: str
    name: Optional[str] = None


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """Encodes a PIL image to bytes (PNG by default, e.g. fmt="JPEG", quality=90)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def attachment(data: bytes, source: str = "test.png", kind: str = "image", mime: str = "image/png") -> LocalAttachment:
    """An attachment as the resolver would put it on the message."""
    return LocalAttachment(kind, data, mime, hashlib.sha256(data).hexdigest(), source, source)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` pixels but that holds a 1x1 image's data:
    what a decompression bomb looks like to a decoder that reads the header first."""
    data = bytearray(encode(Image.new("RGB", (1, 1))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def photo(name: str, max_side: int = 320) -> Image.Image:
    """A scikit-image photo (``chelsea``, ``coffee``, ``rocket``, ``astronaut`` ...) as RGB."""
    array = getattr(skimage.data, name)()
    image = Image.fromarray(np.asarray(array)).convert("RGB")
    image.thumbnail((max_side, max_side))
    return image


def photo_bytes(name: str, max_side: int = 320) -> bytes:
    """A scikit-image photo encoded as JPEG, as a phone would send it."""
    return encode(photo(name, max_side), "JPEG", quality=90)


def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font (the same on every machine)."""
    return ImageFont.load_default(size=size)


def screenshot(
    lines: Sequence[Tuple[str, int]],
    width: int = 480,
    banner: Optional[str] = None,
    banner_color: Tuple[int, int, int] = (200, 40, 40),
) -> Image.Image:
    """A plain app screenshot: an optional coloured banner, then (text, font size) lines."""
    height = 30 + (48 if banner else 0) + sum(size + 22 for _, size in lines)
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    y = 14
    if banner:
        draw.rectangle([0, 0, width, 44], fill=banner_color)
        draw.text((14, 9), banner, font=font(24), fill="white")
        y = 62
    for text, size in lines:
        draw.text((14, y), text, font=font(size), fill=(30, 30, 30))
        y += size + 22
    return image


def payment_error_screenshot(code: str = "E-4021", order: str = "12345") -> Image.Image:
    """The screenshot a customer sends when a payment fails."""
    return screenshot(
        [(f"Error code {code}", 24), (f"Order number {order}", 20), ("Please try another card", 18)],
        banner="Payment declined",
    )


def message_with_images(text: Optional[str], images: Iterable[LocalAttachment] = ()) -> Message:
    """A message with ``text`` (None = no text attribute) and images under ``MEDIA``."""
    message = Message(data={"text": text} if text is not None else {})
    media = list(images)
    if media:
        message.set(MEDIA, media)
    return message
