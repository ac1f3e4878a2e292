"""Decoding image attachment bytes into an upright RGB picture, under the resolver's pixel cap.

The resolver already refuses corrupt files, but a component must never raise from ``process``:
what goes wrong with one image is an ``AttachmentError`` from the catalogue
(``components/media/errors.py``) that the component records, and the image is treated as absent.
The cause is logged here; the customer only ever sees the catalogue's message.
"""

import io
import logging
from typing import Optional

from PIL import Image, ImageOps, UnidentifiedImageError

from components.media import errors
from components.media.mime import IMAGE
from components.media.policy import MediaPolicy

logger = logging.getLogger(__name__)


def _unreadable(reason: str, source: str) -> errors.AttachmentError:
    logger.info("Image '%s' cannot be decoded: %s", source, reason)
    return errors.make_error(errors.IMAGE_UNREADABLE, source, IMAGE)


def _too_many_pixels(limit: int, source: str) -> errors.AttachmentError:
    return errors.make_error(errors.DECOMPRESSION_BOMB, source, IMAGE, limit=errors.human_pixels(limit))


def decode_image(
    data: bytes, max_pixels: Optional[int] = None, source: str = "", max_side: Optional[int] = None
) -> Image.Image:
    """Decodes image bytes to an upright RGB image; more than ``max_pixels`` (default: the
    ``MediaPolicy`` cap the resolver applies) is refused before any pixel is decoded.

    ``max_side``: the image is shrunk (aspect kept) so neither side exceeds it, right after
    decoding and before any copy is made (JPEGs are even decoded at a reduced scale). A photo at
    the policy's 40 M pixels is 120 MB as RGB and every later step (orientation, OCR's float
    arrays) copies it; shrunk first, one message with five of them stays within a few hundred MB.

    EXIF orientation is applied (phone photos are often stored sideways) and transparent areas are
    put on white (transparent screenshots would otherwise turn black and unreadable for OCR).

    Raises:
        AttachmentError: ``image_unreadable`` (empty, unknown or damaged data) or
        ``decompression_bomb`` (too many pixels).
    """
    limit = max_pixels or MediaPolicy().max_image_pixels
    if not data:
        raise _unreadable("the attachment is empty", source)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > limit:
                logger.info("Image '%s' has %dx%d pixels, over %d", source, opened.width, opened.height, limit)
                raise _too_many_pixels(limit, source)
            if max_side:
                opened.draft("RGB", (max_side, max_side))  # JPEG: decode at a smaller scale
            opened.load()
            if max_side and max(opened.size) > max_side:
                opened.thumbnail((max_side, max_side))
            image = ImageOps.exif_transpose(opened)
            image.load()
    except errors.AttachmentError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own, higher, cap fired while opening
        logger.info("Image '%s' refused by Pillow: %s", source, exc)
        raise _too_many_pixels(limit, source) from exc
    except UnidentifiedImageError as exc:
        raise _unreadable(f"not an image in a format Pillow can read ({exc})", source) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _unreadable(f"{type(exc).__name__}: {exc}", source) from exc

    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")
