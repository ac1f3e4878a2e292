"""Resolving local paths, data: URIs and metadata references into checked media."""

import base64
import hashlib
import io
import os
import shutil
import subprocess
import zlib

import numpy as np
import pytest
import soundfile
from PIL import Image

from components.media.attachment import Attachment, MediaReference
from components.media.errors import AttachmentError
from components.media.policy import MediaPolicy
from components.media.resolve import references_from_metadata, resolve_message_media, resolve_reference


def jpeg_bytes(size=(64, 48), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_bytes(size=(32, 32), color=(0, 120, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(seconds=0.5, rate=16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(
        buffer, (0.3 * np.sin(2 * np.pi * 440 * t)).astype("float32"), rate, format="WAV"
    )
    return buffer.getvalue()


def ref(location: str, form: str = "path", **kwargs) -> MediaReference:
    return MediaReference(form=form, location=location, **kwargs)


@pytest.fixture
def media(tmp_path, monkeypatch):
    """A project folder with data/media as the media root, as the working directory."""
    root = tmp_path / "data" / "media"
    root.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return root


def code_of(callable_, *args) -> str:
    with pytest.raises(AttachmentError) as info:
        callable_(*args)
    assert info.value.message  # every error says something to the customer
    return info.value.code


# ---------------------------------------------------------------- local paths


def test_local_image_under_root_resolves_with_hash_and_reference(media):
    data = jpeg_bytes()
    (media / "parcel.jpg").write_bytes(data)
    attachment = resolve_reference(ref("data/media/parcel.jpg"), MediaPolicy())
    assert attachment.kind == "image" and attachment.mime == "image/jpeg"
    assert attachment.data == data
    assert attachment.sha256 == hashlib.sha256(data).hexdigest()
    assert attachment.name == "parcel.jpg"
    assert attachment.reference() == {
        "type": "image",
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "data/media/parcel.jpg",
        "mime": "image/jpeg",
    }
    # relative to the media root works too
    assert resolve_reference(ref("parcel.jpg"), MediaPolicy()).sha256 == attachment.sha256
    # the bytes never show up in a repr (logs)
    assert "\\x" not in repr(attachment)


def test_dot_dot_traversal_is_refused_even_when_the_file_exists(media, tmp_path):
    (tmp_path / "secret.png").write_bytes(png_bytes())
    assert (
        code_of(resolve_reference, ref("data/media/../secret.png"), MediaPolicy())
        == "outside_media_root"
    )
    assert (
        code_of(resolve_reference, ref("../../secret.png"), MediaPolicy()) == "outside_media_root"
    )


def test_absolute_path_outside_roots_is_refused(media, tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(png_bytes())
    assert code_of(resolve_reference, ref(str(outside)), MediaPolicy()) == "outside_media_root"
    assert code_of(resolve_reference, ref("/etc/passwd"), MediaPolicy()) == "outside_media_root"
    # absolute path inside the root is fine
    (media / "ok.png").write_bytes(png_bytes())
    assert resolve_reference(ref(str(media / "ok.png")), MediaPolicy()).mime == "image/png"


def test_symlink_escaping_the_root_is_refused(media, tmp_path):
    """Refused as if the file were not there: answering "outside" only when the link's target
    exists would tell a client which files exist (issue 12)."""
    secret = tmp_path / "private" / "id_card.png"
    secret.parent.mkdir()
    secret.write_bytes(png_bytes())
    os.symlink(secret, media / "innocent.png")
    os.symlink(tmp_path / "private", media / "folder")
    assert code_of(resolve_reference, ref("data/media/innocent.png"), MediaPolicy()) == "not_found"
    assert (
        code_of(resolve_reference, ref("data/media/folder/id_card.png"), MediaPolicy())
        == "not_found"
    )
    # a link that stays inside the root is fine
    (media / "real.png").write_bytes(png_bytes())
    os.symlink(media / "real.png", media / "alias.png")
    assert resolve_reference(ref("data/media/alias.png"), MediaPolicy()).kind == "image"


def test_missing_file_and_directory_are_not_found(media):
    assert code_of(resolve_reference, ref("data/media/nothing.jpg"), MediaPolicy()) == "not_found"
    (media / "dir.jpg").mkdir()
    assert code_of(resolve_reference, ref("data/media/dir.jpg"), MediaPolicy()) == "not_found"


def test_oversize_local_file_is_refused_with_the_limit_in_the_message(media):
    (media / "big.png").write_bytes(png_bytes(size=(300, 300)))
    policy = MediaPolicy(max_image_bytes=500)
    with pytest.raises(AttachmentError) as info:
        resolve_reference(ref("data/media/big.png", kind="image"), policy)
    assert info.value.code == "too_large"
    assert "photo" in info.value.message and "500 bytes" in info.value.message


# ---------------------------------------------------------------- data: URIs


def test_data_uri_resolves_and_source_is_shortened():
    data = png_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    attachment = resolve_reference(ref(uri, form="data"), MediaPolicy())
    assert attachment.data == data and attachment.mime == "image/png"
    assert len(attachment.source) < 80 and attachment.source.startswith("data:image/png;base64,")
    assert attachment.name is None


def test_bad_base64_is_a_bad_reference():
    assert (
        code_of(
            resolve_reference,
            ref("data:image/png;base64,@@not*base64!!", form="data"),
            MediaPolicy(),
        )
        == "bad_reference"
    )
    # not base64-encoded at all
    assert (
        code_of(resolve_reference, ref("data:image/png,rawbytes", form="data"), MediaPolicy())
        == "bad_reference"
    )


def test_data_uri_declaring_another_type_than_its_bytes_is_a_mismatch():
    uri = "data:image/png;base64," + base64.b64encode(jpeg_bytes()).decode()
    assert code_of(resolve_reference, ref(uri, form="data"), MediaPolicy()) == "type_mismatch"
    uri = "data:audio/wav;base64," + base64.b64encode(png_bytes()).decode()
    assert code_of(resolve_reference, ref(uri, form="data"), MediaPolicy()) == "type_mismatch"


def test_data_uri_over_the_limit_is_refused_before_decoding():
    uri = "data:image/png;base64," + "A" * 4000
    assert (
        code_of(
            resolve_reference,
            ref(uri, form="data", kind="image"),
            MediaPolicy(max_image_bytes=1000),
        )
        == "too_large"
    )


# ---------------------------------------------------------------- the bytes decide


def test_wrong_magic_bytes_are_refused(media):
    (media / "photo.png").write_bytes(b"<html><body>not an image</body></html>")
    assert (
        code_of(resolve_reference, ref("data/media/photo.png"), MediaPolicy()) == "unsupported_type"
    )
    (media / "scan.tiff").write_bytes(b"II*\x00" + b"\x00" * 100)
    assert (
        code_of(resolve_reference, ref("data/media/scan.tiff"), MediaPolicy()) == "unsupported_type"
    )


def test_declared_image_with_audio_bytes_is_a_mismatch(media):
    (media / "voice.jpg").write_bytes(wav_bytes())
    assert (
        code_of(resolve_reference, ref("data/media/voice.jpg", kind="image"), MediaPolicy())
        == "type_mismatch"
    )
    # without a declared type the bytes decide (the extension is only a hint)
    assert resolve_reference(ref("data/media/voice.jpg"), MediaPolicy()).kind == "audio"


def test_type_not_in_the_allowed_list_is_refused(media):
    (media / "a.png").write_bytes(png_bytes())
    policy = MediaPolicy(allowed_image_types=("image/jpeg",))
    assert code_of(resolve_reference, ref("data/media/a.png"), policy) == "unsupported_type"


def test_corrupt_jpeg_is_refused(media):
    data = jpeg_bytes(size=(256, 256))
    (media / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (media / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    assert code_of(resolve_reference, ref("data/media/truncated.jpg"), MediaPolicy()) == "corrupt"
    assert code_of(resolve_reference, ref("data/media/garbage.jpg"), MediaPolicy()) == "corrupt"


def _png_with_declared_size(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims width x height (CRC fixed): a decompression bomb header."""
    data = bytearray(png_bytes(size=(1, 1)))
    ihdr = data[12:29]  # chunk type + 13 bytes of IHDR data
    ihdr[4:8] = width.to_bytes(4, "big")
    ihdr[8:12] = height.to_bytes(4, "big")
    data[12:29] = ihdr
    data[29:33] = zlib.crc32(bytes(ihdr)).to_bytes(4, "big")
    return bytes(data)


def test_decompression_bomb_png_is_refused(media):
    # A genuine 8000 x 6000 (48 M pixel) 1-bit PNG: tiny on disk, huge when decoded.
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000
    (media / "bomb.png").write_bytes(buffer.getvalue())
    with pytest.raises(AttachmentError) as info:
        resolve_reference(ref("data/media/bomb.png"), MediaPolicy())
    assert info.value.code == "decompression_bomb" and "40 million pixels" in info.value.message
    # A header claiming 100000 x 100000 pixels (Pillow's own bomb limit would also trip).
    (media / "claims.png").write_bytes(_png_with_declared_size(100_000, 100_000))
    assert (
        code_of(resolve_reference, ref("data/media/claims.png"), MediaPolicy())
        == "decompression_bomb"
    )


def test_audio_wav_from_flite_and_soundfile_resolves(media):
    (media / "tone.wav").write_bytes(wav_bytes())
    attachment = resolve_reference(ref("data/media/tone.wav"), MediaPolicy())
    assert attachment.kind == "audio" and attachment.mime == "audio/wav"
    if shutil.which("flite"):
        subprocess.run(
            ["flite", "-t", "hello, where is my order", "-o", str(media / "voice.wav")], check=True
        )
        spoken = resolve_reference(ref("data/media/voice.wav", kind="audio"), MediaPolicy())
        assert spoken.mime == "audio/wav" and len(spoken.data) > 10_000


def test_flac_and_ogg_are_recognised_and_broken_wav_is_corrupt(media):
    t = np.arange(8000) / 16000
    signal = (0.2 * np.sin(2 * np.pi * 300 * t)).astype("float32")
    soundfile.write(str(media / "a.flac"), signal, 16000, format="FLAC")
    soundfile.write(str(media / "a.ogg"), signal, 16000, format="OGG", subtype="VORBIS")
    assert resolve_reference(ref("data/media/a.flac"), MediaPolicy()).mime == "audio/flac"
    assert resolve_reference(ref("data/media/a.ogg"), MediaPolicy()).mime == "audio/ogg"
    (media / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunkjunk")
    assert code_of(resolve_reference, ref("data/media/broken.wav"), MediaPolicy()) == "corrupt"


def test_audio_over_audio_limit_is_refused_but_same_size_image_limit_does_not_apply(media):
    data = wav_bytes(seconds=1.0)
    (media / "long.wav").write_bytes(data)
    policy = MediaPolicy(max_audio_bytes=len(data) - 1, max_image_bytes=10 * len(data))
    with pytest.raises(AttachmentError) as info:
        resolve_reference(ref("data/media/long.wav"), policy)  # kind unknown until sniffed
    assert info.value.code == "too_large" and "voice message" in info.value.message


# ---------------------------------------------------------------- whole messages


def test_metadata_references_good_bad_and_too_many(media):
    (media / "a.png").write_bytes(png_bytes())
    (media / "b.wav").write_bytes(wav_bytes())
    metadata = {
        "attachments": [
            {"type": "image", "path": "data/media/a.png", "name": "box"},
            {"type": "audio", "path": "data/media/b.wav"},
            {"type": "image", "path": "data/media/missing.png"},
            {"type": "video", "path": "data/media/b.wav"},  # same file twice: once only
            {"type": "video", "path": "data/media/clip.mp4"},
            {"type": "image"},  # no location at all
            {"type": "image", "path": "data/media/a.png", "url": "https://example.com/a.png"},
        ]
    }
    attachments, problems, text = resolve_message_media("my box is broken", metadata, MediaPolicy())
    assert text == "my box is broken"
    assert [(a.kind, a.name) for a in attachments] == [("image", "box"), ("audio", "b.wav")]
    assert sorted(p.code for p in problems) == [
        "bad_reference",
        "bad_reference",
        "not_found",
        "unsupported_type",
    ]
    missing = next(p for p in problems if p.code == "not_found")
    assert missing.source == "data/media/missing.png" and "photo" in missing.message

    many = {"attachments": [{"type": "image", "path": f"data/media/a{i}.png"} for i in range(7)]}
    for i in range(7):
        (media / f"a{i}.png").write_bytes(png_bytes(color=(i, i, i)))
    attachments, problems, _ = resolve_message_media("", many, MediaPolicy(max_attachments=5))
    assert len(attachments) == 5
    assert [(p.code, p.source) for p in problems] == [("too_many", "data/media/a5.png")]
    assert "first 5" in problems[0].message


def test_bare_base64_under_data_and_plain_string_entries(media):
    (media / "c.png").write_bytes(png_bytes())
    raw = base64.b64encode(jpeg_bytes()).decode()
    references, problems = references_from_metadata(
        {
            "attachments": [
                {"type": "image", "data": raw, "mime": "image/jpeg"},
                "data/media/c.png",
                42,
            ]
        }
    )
    assert [r.form for r in references] == ["data", "path"] and len(problems) == 1
    attachments, errors, _ = resolve_message_media(
        "", {"attachments": [{"type": "image", "data": raw}]}, MediaPolicy()
    )
    assert not errors and attachments[0].mime == "image/jpeg"
    assert isinstance(attachments[0], Attachment)
