"""The one place the workspace reads a customer's photo or voice message.

Only files in the channels' media stores are served (the folders the channels upload into,
``media_folders``), and only when the bytes still hash to the sha256 the pipeline recorded. With
several replicas an upload may have been stored by another replica: when a bucket is configured
(``components.media.shared``, ``MEDIA_S3_BUCKET``), a content-named upload that is not in this
replica's folders is fetched from the bucket into the first one and served from there, after the
same hash check.
"""

import hashlib
import os
from typing import Dict, Optional, Sequence, Tuple

from components.channels.media_store import MIME_OF_EXTENSION, MediaStore
from components.media import shared

# The largest file the workspace serves (the media stores' own caps are smaller).
MAX_MEDIA_BYTES = 50_000_000


def read_media(reference: Dict[str, str], folders: Sequence[str]) -> Optional[Tuple[bytes, str]]:
    """(bytes, MIME type) of a stored upload named by ``reference`` (``path`` + ``sha256``), or
    None when it is not in one of ``folders``, is gone (retention), or no longer matches."""
    path = reference.get("path")
    digest = reference.get("sha256")
    if not isinstance(path, str) or not isinstance(digest, str):
        return None
    if not any(MediaStore(folder).contains(path) and os.path.isfile(path) for folder in folders):
        path = _from_shared_store(path, digest, folders)
        if path is None:
            return None
    real = os.path.realpath(os.path.abspath(path))
    try:
        if os.path.getsize(real) > MAX_MEDIA_BYTES:
            return None
        with open(real, "rb") as handle:
            data = handle.read(MAX_MEDIA_BYTES + 1)
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        return None
    return data, MIME_OF_EXTENSION[os.path.splitext(real)[1]]


def _from_shared_store(path: str, digest: str, folders: Sequence[str]) -> Optional[str]:
    """The local copy of another replica's upload, fetched from the shared bucket; None without a
    bucket, for a name that is not this upload's content name, or when the bucket lacks it."""
    bucket = shared.S3Media.from_config(None)
    name = shared.content_name(path)
    if bucket is None or not folders or name is None or not name.startswith(digest):
        return None
    return shared.materialise(bucket, name, folders[0], MAX_MEDIA_BYTES)
