"""Decoding attachment bytes and reporting per-attachment failures on a message.

The resolver already refuses corrupt files, but a component must never raise from ``process``:
whatever goes wrong with one image becomes an ``attachment_errors`` entry and the image is treated
as absent.
"""

import io
import logging
from typing import Any, Dict, List

from PIL import Image, ImageOps, UnidentifiedImageError
from rasa.shared.nlu.training_data.message import Message

from components.constants import ATTACHMENT_ERRORS, MEDIA

logger = logging.getLogger(__name__)

# More pixels than this (about a 64-megapixel photo) is refused instead of decoded.
MAX_IMAGE_PIXELS = 64_000_000

# ``code`` values this package puts into ``attachment_errors``.
ERROR_IMAGE_UNREADABLE = "image_unreadable"
ERROR_IMAGE_FEATURIZATION_FAILED = "image_featurization_failed"
ERROR_OCR_FAILED = "ocr_failed"


class ImageDecodeError(ValueError):
    """The bytes could not be turned into a picture."""


def image_attachments(message: Message) -> List[Any]:
    """The message's resolved images (duck-typed ``Attachment`` objects with ``kind == "image"``)."""
    media = message.get(MEDIA) or []
    return [item for item in media if getattr(item, "kind", None) == "image"]


def decode_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decodes image bytes to an upright RGB image.

    EXIF orientation is applied (phone photos are often stored sideways) and transparent areas are
    put on white (transparent screenshots would otherwise turn black and unreadable for OCR).
    """
    if not data:
        raise ImageDecodeError("the attachment is empty")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > max_pixels:
                raise ImageDecodeError(
                    f"the image has {opened.width}x{opened.height} pixels, more than the "
                    f"{max_pixels} allowed"
                )
            image = ImageOps.exif_transpose(opened)
            image.load()
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not an image in a format Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"the image is too large to decode safely: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"the image data is damaged: {exc}") from exc

    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def add_attachment_error(message: Message, source: str, code: str, text: str) -> None:
    """Appends ``{"source", "code", "message"}`` to ``attachment_errors`` (never overwrites).

    The same (source, code) pair is recorded once, so two components failing on one image give one
    entry.
    """
    errors: List[Dict[str, str]] = list(message.get(ATTACHMENT_ERRORS) or [])
    if any(e.get("source") == source and e.get("code") == code for e in errors):
        return
    errors.append({"source": source, "code": code, "message": text})
    message.set(ATTACHMENT_ERRORS, errors, add_to_output=True)
    logger.warning("Attachment %s: %s (%s)", source, text, code)
