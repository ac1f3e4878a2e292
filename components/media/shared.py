"""Uploads shared by every ``rasa run`` replica through an S3-compatible bucket (boto3).

With several replicas a customer's photo may be uploaded through replica A and referred to in a
message that replica B handles. The media store (``components.channels.media_store``) writes each
upload to its local folder and, when a bucket is configured, also to the bucket under
``<prefix><sha256><extension>`` (uploads are named by content); a replica that meets a reference
to an upload it does not have (the web chat's store, the AttachmentResolver) calls
``materialise``: the object is fetched into its own upload folder, kept only when the bytes hash
to the name, and read from there like any local upload. Any S3 works by URL and keys (AWS, MinIO,
Ceph, ``rclone serve s3``); without a bucket the local folder is the whole store (one process,
or a shared folder).

Settings (a channel's credentials entry, else the environment; keys only from the environment,
so they never land in credentials.yml or a trained model):

| key | env | default |
| --- | --- | --- |
| ``media_s3_bucket`` | ``MEDIA_S3_BUCKET`` | none: no sharing |
| ``media_s3_endpoint_url`` | ``MEDIA_S3_ENDPOINT_URL`` (else boto3's ``AWS_ENDPOINT_URL``) | AWS |
| ``media_s3_prefix`` | ``MEDIA_S3_PREFIX`` | ``uploads/`` |
| ``media_s3_timeout_s`` | | 10 |
| | ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION`` | boto3's chain |
"""

import logging
import os
import threading
from typing import Any, Dict, Optional

import hashlib
import re
import tempfile

logger = logging.getLogger(__name__)

BUCKET_KEY, BUCKET_ENV = "media_s3_bucket", "MEDIA_S3_BUCKET"
ENDPOINT_KEY, ENDPOINT_ENV = "media_s3_endpoint_url", "MEDIA_S3_ENDPOINT_URL"
PREFIX_KEY, PREFIX_ENV = "media_s3_prefix", "MEDIA_S3_PREFIX"
TIMEOUT_KEY = "media_s3_timeout_s"
DEFAULT_PREFIX = "uploads/"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_REGION = "us-east-1"


# A stored upload's file name: the sha256 of its bytes and an extension (``.jpg``, ``.wav``).
CONTENT_NAME = re.compile(r"^([0-9a-f]{64})\.[a-z0-9]{2,5}$")


class SharedMediaError(Exception):
    """The bucket could not be written or read (down, wrong keys); names the bucket only."""


class S3Media:
    """One bucket (and key prefix) holding the uploads of every replica."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: Optional[str] = None,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not bucket or not isinstance(bucket, str):
            raise ValueError("media_s3_bucket must name a bucket.")
        if float(timeout_s) <= 0:
            raise ValueError("media_s3_timeout_s must be a positive number of seconds.")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.prefix = prefix or ""
        self.timeout_s = float(timeout_s)
        self._client: Any = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Optional[Dict[str, Any]]) -> Optional["S3Media"]:
        """The bucket from channel credentials or the environment; None when none is set."""
        config = config or {}
        bucket = config.get(BUCKET_KEY) or os.environ.get(BUCKET_ENV)
        if not bucket:
            return None
        prefix = config.get(PREFIX_KEY)
        if prefix is None:
            prefix = os.environ.get(PREFIX_ENV, DEFAULT_PREFIX)
        timeout = config.get(TIMEOUT_KEY)
        return cls(
            str(bucket),
            config.get(ENDPOINT_KEY) or os.environ.get(ENDPOINT_ENV),
            str(prefix),
            DEFAULT_TIMEOUT_S if timeout is None else float(timeout),
        )

    def describe(self) -> str:
        """``s3://bucket/prefix`` (at endpoint), for logs and errors."""
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _s3(self) -> Any:
        """The boto3 client, made once (boto3 clients are thread-safe; making one is not)."""
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
                    config=Config(
                        connect_timeout=self.timeout_s,
                        read_timeout=self.timeout_s,
                        retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path"},
                    ),
                )
            return self._client

    def put(self, name: str, data: bytes, mime: str) -> None:
        """Stores ``data`` as ``name`` (a content name: writing it twice is harmless)."""
        try:
            self._s3().put_object(
                Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType=mime
            )
        except Exception as exc:
            logger.error("Shared media %s: storing %s failed: %s", self.describe(), name, exc)
            raise SharedMediaError(f"the shared media store {self.describe()} is unavailable") from exc

    def get(self, name: str, limit: int) -> Optional[bytes]:
        """The bytes stored as ``name``; None when there is no such object or it is larger than
        ``limit`` bytes (never read past the limit). Raises SharedMediaError when the bucket
        cannot be asked."""
        from botocore.exceptions import ClientError

        try:
            answer = self._s3().get_object(Bucket=self.bucket, Key=self.prefix + name)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            logger.error("Shared media %s: reading %s failed: %s", self.describe(), name, exc)
            raise SharedMediaError(f"the shared media store {self.describe()} is unavailable") from exc
        except Exception as exc:
            logger.error("Shared media %s: reading %s failed: %s", self.describe(), name, exc)
            raise SharedMediaError(f"the shared media store {self.describe()} is unavailable") from exc
        body = answer["Body"]
        try:
            if int(answer.get("ContentLength") or 0) > limit:
                return None
            data = body.read(limit + 1)
        finally:
            body.close()
        return None if len(data) > limit else data


def content_name(path: Any) -> Optional[str]:
    """The file name of ``path`` when it is a content name (``<sha256>.<ext>``), else None."""
    if not isinstance(path, str) or "\x00" in path:
        return None
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name if CONTENT_NAME.match(name) else None


def materialise(shared: S3Media, name: str, folder: str, limit: int) -> Optional[str]:
    """The path in ``folder`` of upload ``name`` (a content name), fetched from ``shared`` when
    it is not there yet; None when the bucket has no such object, it is over ``limit`` bytes,
    its bytes do not hash to the name, or the bucket cannot be read (logged). The local copy is
    written atomically (a reader never sees half a file). Blocking: call it off the event loop."""
    match = CONTENT_NAME.match(name)
    if match is None:
        return None
    local = os.path.join(folder, name)
    if os.path.isfile(local) and not os.path.islink(local):
        return local
    try:
        data = shared.get(name, limit)
    except SharedMediaError:
        return None
    if data is None:
        return None
    if hashlib.sha256(data).hexdigest() != match.group(1):
        logger.warning("Shared media %s: %s does not hash to its name; not used.", shared.describe(), name)
        return None
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, local)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    logger.info("Shared media: %s fetched from %s.", name, shared.describe())
    return local
