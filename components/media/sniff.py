"""Media types: the bytes decide. Magic-byte sniffing and content checks (names live in ``mime``).

A name, an extension or a Content-Type header is only a claim; ``sniff`` reads the first bytes,
and ``verify`` opens images with Pillow (pixel cap first, so a decompression bomb is refused
before it is decoded) and checks audio containers soundfile can read.
"""

import io
import struct
from typing import Optional, Tuple

from components.media import errors
from components.media.mime import (
    AUDIO,
    IMAGE,
    is_media_claim,
    kind_of_mime,
    normalise_mime,
)
from components.media.policy import MediaPolicy

# Pillow format names per canonical image MIME type (the decoder must agree with the sniffer).
# MPO is a JPEG with more pictures appended (phone cameras: depth maps, previews); the first
# picture is an ordinary JPEG, and that is the one every component decodes.
_PILLOW_FORMATS = {
    "image/jpeg": ("JPEG", "MPO"),
    "image/png": ("PNG",),
    "image/webp": ("WEBP",),
    "image/gif": ("GIF",),
    "image/bmp": ("BMP",),
}

# Containers libsndfile reads; their headers are parsed to catch truncated or fake files.
_SOUNDFILE_CHECKED = {"audio/wav", "audio/flac", "audio/ogg"}


def sniff(head: bytes) -> Optional[str]:
    """Canonical MIME type recognised from the first bytes, None when not a known media format."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF"):
        if head[8:12] == b"WEBP":
            return "image/webp"
        if head[8:12] == b"WAVE":
            return "audio/wav"
        return None
    if head.startswith(b"BM") and len(head) >= 26:
        # BITMAPFILEHEADER: reserved words are zero and the pixel offset lies past the headers.
        reserved1, reserved2, offset = struct.unpack("<HHI", head[6:14])
        if reserved1 == 0 and reserved2 == 0 and 26 <= offset:
            return "image/bmp"
        return None
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML: only the WebM doctype (browser voice recordings), not arbitrary Matroska.
        return "audio/webm" if b"webm" in head[:64] else None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif"):
            return None  # still images in an ISO container: not accepted
        return "audio/mp4"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        # MPEG audio frame sync; layer bits 00 are reserved (and mean AAC ADTS), so refuse them.
        version = (head[1] >> 3) & 0x03
        layer = (head[1] >> 1) & 0x03
        if layer != 0 and version != 1:
            return "audio/mpeg"
    return None


def check_type(
    data: bytes,
    policy: MediaPolicy,
    source: str,
    declared_kind: Optional[str] = None,
    declared_mime: Optional[str] = None,
) -> Tuple[str, str]:
    """(kind, mime) decided by the bytes; raises when unknown, not allowed or contradicting a claim."""
    mime = sniff(data[:64])
    if mime is None or mime not in policy.allowed_types(None):
        # A known format the policy refuses: offer what it accepts of that kind (a JPEG when only
        # PNG is allowed gets "a photo (PNG)", not a list of audio formats as well).
        raise unsupported_type(policy, source, declared_kind or kind_of_mime(mime))
    kind = kind_of_mime(mime)
    assert kind is not None
    if declared_kind is not None and declared_kind != kind:
        raise errors.make_error(errors.TYPE_MISMATCH, source, declared_kind)
    declared = normalise_mime(declared_mime)
    if is_media_claim(declared) and declared != mime:
        raise errors.make_error(errors.TYPE_MISMATCH, source, declared_kind or kind)
    if mime not in policy.allowed_types(kind):
        raise unsupported_type(policy, source, kind)
    if len(data) > policy.max_bytes(kind):
        raise errors.make_error(
            errors.TOO_LARGE, source, kind, limit=errors.human_size(policy.max_bytes(kind))
        )
    return kind, mime


def unsupported_type(policy: MediaPolicy, source: str, kind: Optional[str]) -> errors.AttachmentError:
    """The ``unsupported_type`` error, listing only the formats the policy accepts (for ``kind``
    when it is known, else every accepted format)."""
    return errors.make_error(
        errors.UNSUPPORTED_TYPE, source, kind, formats=policy.allowed_types(kind)
    )


def _too_many_pixels(policy: MediaPolicy, source: str) -> errors.AttachmentError:
    return errors.make_error(
        errors.DECOMPRESSION_BOMB, source, IMAGE, limit=errors.human_pixels(policy.max_image_pixels)
    )


def verify_image(data: bytes, mime: str, policy: MediaPolicy, source: str) -> Tuple[int, int]:
    """Opens the image with Pillow: pixel cap before decoding, then verify and a full decode.

    Returns (width, height). Pillow's global MAX_IMAGE_PIXELS is left alone: the cap here is the
    policy's, checked from the header before any pixel is decoded.
    """
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if image.format not in _PILLOW_FORMATS.get(mime, ()):
                    raise errors.make_error(errors.CORRUPT, source, IMAGE)
                if width * height > policy.max_image_pixels:
                    raise _too_many_pixels(policy, source)
                image.verify()
            # verify() leaves the image unusable and does not decode JPEG data: decode once.
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except errors.AttachmentError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own, much higher, safety net
        raise _too_many_pixels(policy, source) from exc
    except (OSError, SyntaxError, ValueError, struct.error, IndexError, EOFError) as exc:
        raise errors.make_error(errors.CORRUPT, source, IMAGE) from exc
    return width, height


def verify_audio(
    data: bytes, mime: str, source: str, policy: Optional[MediaPolicy] = None
) -> None:
    """Checks an audio file's header before anyone decodes it: WAV / FLAC / Ogg are parsed with
    soundfile (a broken header is ``corrupt``), other containers are probed with PyAV when it
    can read them (a broken one fails in the transcriber's decoder). A sample rate or channel
    count over the policy's (``max_audio_sample_rate``, ``max_audio_channels``) is
    ``audio_unusual_format``: a few kilobytes at 384 kHz and 8 channels decode to gigabytes.
    Channels call this for uploads too (the media store), so pass the store's policy there.
    """
    policy = policy or MediaPolicy()
    if mime in _SOUNDFILE_CHECKED:
        import soundfile

        try:
            info = soundfile.info(io.BytesIO(data))
        except Exception as exc:  # soundfile raises RuntimeError / LibsndfileError / TypeError
            raise errors.make_error(errors.CORRUPT, source, AUDIO) from exc
        if info.frames <= 0 or info.samplerate <= 0:
            raise errors.make_error(errors.CORRUPT, source, AUDIO)
        rate, channels = int(info.samplerate), int(info.channels)
    else:
        probed = _probe_audio_stream(data)
        if probed is None:
            return
        rate, channels = probed
    _check_audio_format(rate, channels, policy, source)


def _probe_audio_stream(data: bytes) -> Optional[Tuple[int, int]]:
    """(sample rate, channels) of the first audio stream as PyAV reads the container's
    header; None when PyAV is missing or cannot tell (the decoder has the last word)."""
    try:
        import av

        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                return None
            context = container.streams.audio[0].codec_context
            return int(context.sample_rate or 0), int(context.channels or 0)
    except Exception:  # not readable here: decoding will refuse it with its own error
        return None


def _check_audio_format(rate: int, channels: int, policy: MediaPolicy, source: str) -> None:
    """``audio_unusual_format`` for more than the policy's sample rate or channel count."""
    if rate > policy.max_audio_sample_rate:
        limit = f"{policy.max_audio_sample_rate / 1000:g} kHz"
    elif channels > policy.max_audio_channels:
        limit = f"{policy.max_audio_channels} channels"
    else:
        return
    raise errors.make_error(errors.AUDIO_UNUSUAL_FORMAT, source, AUDIO, limit=limit)
