"""The one place the workspace reads a customer's photo or voice message.

Only files in the channels' media stores are served (the folders the channels upload into,
``media_folders``), and only when the bytes still hash to the sha256 the pipeline recorded. Shared
storage (S3, several replicas) plugs in here: every route that serves media calls ``read_media``.
"""

import hashlib
import os
from typing import Dict, Optional, Sequence, Tuple

from components.channels.media_store import MIME_OF_EXTENSION, MediaStore

# The largest file the workspace serves (the media stores' own caps are smaller).
MAX_MEDIA_BYTES = 50_000_000


def read_media(reference: Dict[str, str], folders: Sequence[str]) -> Optional[Tuple[bytes, str]]:
    """(bytes, MIME type) of a stored upload named by ``reference`` (``path`` + ``sha256``), or
    None when it is not in one of ``folders``, is gone (retention), or no longer matches."""
    path = reference.get("path")
    digest = reference.get("sha256")
    if not isinstance(path, str) or not isinstance(digest, str):
        return None
    if not any(MediaStore(folder).contains(path) for folder in folders):
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
