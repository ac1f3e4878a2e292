"""MediaStore: uploads become checked, content-addressed files the AttachmentResolver can read."""

import asyncio
import io
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from sanic.request import File

from components.channels import media_store
from components.channels.media_store import MediaStore, http_status_for
from components.channels.uploads import UploadError, store_files
from components.media.errors import AttachmentError
from components.media.policy import MediaPolicy
from components.media.resolve import resolve_message_media

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_dented.jpg"
SCREENSHOT = ROOT / "data" / "media" / "images" / "payment_error_e4021.png"


@pytest.fixture()
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(str(tmp_path / "uploads"))


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("voice") / "voice.wav"
    subprocess.run(["flite", "-t", "where is my order", "-o", str(path)], check=True)
    return path.read_bytes()


def test_photo_is_stored_under_its_hash_with_the_sniffed_extension(store: MediaStore) -> None:
    data = PHOTO.read_bytes()
    reference = store.save(data, declared_mime="image/jpeg", name="../../etc/My Parcel.JPEG")
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    assert reference["type"] == "image"
    assert reference["mime"] == "image/jpeg"
    assert reference["path"] == os.path.join(store.folder, f"{digest}.jpg")
    assert reference["name"] == "My Parcel.JPEG"  # display only, never a path
    assert Path(reference["path"]).read_bytes() == data
    # Only the reference travels: no bytes, no data URI.
    assert set(reference) == {"type", "path", "mime", "name"}


def test_same_content_is_stored_once_and_names_never_decide_the_type(store: MediaStore) -> None:
    data = SCREENSHOT.read_bytes()
    first = store.save(data, name="screenshot.jpg")  # a PNG named .jpg
    second = store.save(data, name="other name.png")
    assert first["path"] == second["path"] and first["path"].endswith(".png")
    assert len([p for p in os.listdir(store.folder) if not p.startswith(".")]) == 1


def test_voice_message_is_accepted_as_audio(store: MediaStore, voice_wav: bytes) -> None:
    reference = store.save(voice_wav, declared_kind="audio", name="voice.wav")
    assert reference["type"] == "audio" and reference["mime"] == "audio/wav"
    assert reference["path"].endswith(".wav")


def test_the_resolver_reads_back_what_was_stored(store: MediaStore, voice_wav: bytes) -> None:
    photo = store.save(PHOTO.read_bytes())
    voice = store.save(voice_wav)
    policy = MediaPolicy(media_roots=(store.folder,))
    attachments, problems, _ = resolve_message_media("", {"attachments": [photo, voice]}, policy)
    assert problems == []
    assert [a.kind for a in attachments] == ["image", "audio"]
    assert attachments[0].data == PHOTO.read_bytes()


def test_text_file_is_refused_with_a_customer_message_and_nothing_is_written(store: MediaStore) -> None:
    with pytest.raises(AttachmentError) as caught:
        store.save(b"hello, this is not a photo\n" * 10, name="notes.jpg")
    assert caught.value.code == "unsupported_type"
    assert "Please send" in caught.value.message
    assert http_status_for(caught.value) == 415
    assert not os.path.exists(store.folder) or os.listdir(store.folder) == []


def test_claim_that_contradicts_the_bytes_is_refused(store: MediaStore) -> None:
    with pytest.raises(AttachmentError) as caught:
        store.save(PHOTO.read_bytes(), declared_kind="audio")
    assert caught.value.code == "type_mismatch"
    with pytest.raises(AttachmentError) as caught:
        store.save(PHOTO.read_bytes(), declared_mime="image/png")
    assert caught.value.code == "type_mismatch"


def test_size_limit_uses_the_policy_and_says_the_limit(tmp_path: Path) -> None:
    store = MediaStore.from_config(
        {"media_folder": str(tmp_path / "small"), "max_image_bytes": 20_000}
    )
    big = io.BytesIO()
    Image.effect_noise((300, 300), 80).convert("RGB").save(big, "PNG")
    assert big.tell() > 20_000
    with pytest.raises(AttachmentError) as caught:
        store.save(big.getvalue(), declared_kind="image")
    assert caught.value.code == "too_large"
    assert "20 kB" in caught.value.message
    assert http_status_for(caught.value) == 413


def test_truncated_photo_is_refused_as_damaged(store: MediaStore) -> None:
    data = PHOTO.read_bytes()
    with pytest.raises(AttachmentError) as caught:
        store.save(data[: len(data) // 3])
    assert caught.value.code == "corrupt"


def test_disallowed_type_is_refused(tmp_path: Path) -> None:
    store = MediaStore.from_config(
        {"media_folder": str(tmp_path / "jpeg-only"), "allowed_image_types": ["jpeg"]}
    )
    with pytest.raises(AttachmentError) as caught:
        store.save(SCREENSHOT.read_bytes())
    assert caught.value.code == "unsupported_type"


def test_an_unknown_declared_kind_is_answered_with_the_formats_this_store_accepts(tmp_path: Path) -> None:
    store = MediaStore.from_config(
        {
            "media_folder": str(tmp_path / "narrow"),
            "allowed_image_types": ["jpeg"],
            "allowed_audio_types": ["ogg", "mp3"],
        }
    )
    with pytest.raises(AttachmentError) as caught:
        store.save(PHOTO.read_bytes(), declared_kind="document")
    assert caught.value.code == "unsupported_type" and http_status_for(caught.value) == 415
    assert caught.value.message.endswith(
        "Please send a photo (JPEG) or a voice message (OGG/Opus or MP3)."
    )


def test_stored_reference_only_accepts_files_of_the_store(store: MediaStore, tmp_path: Path) -> None:
    reference = store.save(PHOTO.read_bytes(), name="parcel.jpg")
    kept = store.stored_reference({"path": reference["path"], "type": "audio", "url": "http://x"})
    assert kept == {"type": "image", "path": reference["path"], "mime": "image/jpeg"}
    assert store.stored_reference({"path": str(PHOTO)}) is None
    assert store.stored_reference({"path": os.path.join(store.folder, "..", "x.jpg")}) is None
    link = Path(store.folder) / "link.jpg"
    link.symlink_to(PHOTO)
    assert store.stored_reference({"path": str(link)}) is None  # real path is elsewhere
    assert store.stored_reference("data/media/images/wrong_item_cat.jpg") is None


def test_a_refused_upload_is_named_by_its_short_printable_base_name_only(store: MediaStore) -> None:
    hostile = "../../etc/" + "\x1b[31m\u202e" + "x" * 400 + ".pdf"
    upload = File(type="application/pdf", body=b"%PDF-1.7\n" + b"0" * 200, name=hostile)
    with pytest.raises(UploadError) as refused:
        asyncio.run(store_files(store, [upload]))
    name, _, rest = refused.value.message.partition(": ")
    assert "/" not in name and "\x1b" not in name and "\u202e" not in name
    assert name.startswith("[31m") and len(name) <= media_store._MAX_NAME
    assert rest.startswith("I can't read that kind of file")
    for text in refused.value.messages.values():
        assert text.startswith(name + ": ")
    assert not any(Path(store.folder).rglob("*.pdf"))
