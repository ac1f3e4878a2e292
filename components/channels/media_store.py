"""Where channels put the photos and voice messages customers upload.

A channel never puts file bytes into message metadata (metadata ends up in the tracker store):
it saves the upload here and sends the small reference ``{"type", "path", "mime", "name"}`` that
the AttachmentResolver reads back. The store

- checks every file with the media package's own rules (``components.media.sniff``: the bytes
  decide the type, size caps per kind, images fully decoded with a pixel cap, audio headers
  parsed), so a file the resolver would refuse is refused at upload time, with the same
  customer-facing message;
- names files by content, ``<sha256><extension of the sniffed type>``: the same photo sent twice
  is stored once, a name can never collide with or overwrite different content, and nothing the
  sender chose (file name, claimed type) reaches the file system;
- writes atomically (temporary file + rename), so a reader never sees half a file;
- keeps files ``upload_retention_hours`` (default 24) after their last upload: ``sweep`` removes
  older ones (the channels run it at start and periodically, off the event loop). A tracker's
  reference to a swept file then reads as not found; the conversation itself is kept.

The folder must be one of the AttachmentResolver's ``upload_roots`` (default
``var/media/uploads``: read at inference, never fingerprinted or used as training media). With
several ``rasa run`` replicas, either the folder is shared storage or a bucket is configured
(``components.media.shared``): every upload is then also written to the bucket, and
``stored_reference`` / ``localise`` fetch an upload another replica stored into this replica's
folder (the bytes must hash to the name) before the resolver reads it.
"""

import hashlib
import logging
import os
import tempfile
import time
import unicodedata
from typing import Any, Dict, Optional, Tuple

from components.channels import refusals
from components.media.shared import S3Media, SharedMediaError, content_name, materialise
from components.media import errors
from components.media.errors import AttachmentError
from components.media.mime import AUDIO, IMAGE, normalise_mime
from components.media.policy import MediaPolicy
from components.media.sniff import check_type, unsupported_type, verify_audio, verify_image
from components.text.language import ENGLISH

logger = logging.getLogger(__name__)

DEFAULT_FOLDER = "var/media/uploads"

# Hours an upload is kept after its last upload (config key upload_retention_hours).
DEFAULT_RETENTION_HOURS = 24.0

# Temporary files of interrupted writes older than this are removed by the sweep too.
_STALE_TEMPORARY_S = 3600

# File extension per canonical MIME type (the sniffed type, never the sender's claim).
EXTENSIONS: Dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "audio/wav": ".wav",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
}

# MIME type per stored extension (stored names always end in one of EXTENSIONS' values).
MIME_OF_EXTENSION: Dict[str, str] = {ext: mime for mime, ext in EXTENSIONS.items()}

# Channel config keys that configure the store's limits (same names and defaults as the
# AttachmentResolver's, so one set of numbers can be copied between config.yml and credentials.yml).
LIMIT_KEYS = (
    "max_image_bytes",
    "max_audio_bytes",
    "max_image_pixels",
    "allowed_image_types",
    "allowed_audio_types",
    "max_audio_sample_rate",
    "max_audio_channels",
)

# HTTP status for each refusal, for the upload endpoints.
_HTTP_STATUS = {
    errors.TOO_LARGE: 413,
    errors.DECOMPRESSION_BOMB: 413,
    errors.UNSUPPORTED_TYPE: 415,
    errors.TYPE_MISMATCH: 415,
    refusals.STORAGE_UNAVAILABLE: refusals.REFUSALS[refusals.STORAGE_UNAVAILABLE][0],
}

_MAX_NAME = 120


def http_status_for(error: AttachmentError) -> int:
    """413 for too big, 415 for a type that is refused, 400 for anything else."""
    return _HTTP_STATUS.get(error.code, 400)


def clean_display_name(name: Optional[str]) -> Optional[str]:
    """The sender's file name reduced to a short, printable base name (for display only)."""
    if not name or not isinstance(name, str):
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return base[:_MAX_NAME] or None


def kind_of_declared(kind: Optional[str], policy: MediaPolicy) -> Optional[str]:
    """'image' / 'audio' for a declared kind, None for no claim; anything else is refused."""
    if kind is None or kind == "":
        return None
    lowered = str(kind).strip().lower()
    if lowered in (IMAGE, AUDIO):
        return lowered
    raise unsupported_type(policy, str(kind)[:40], None)


class MediaStore:
    """Checked, content-addressed storage for uploaded media; hands out path references."""

    def __init__(
        self,
        folder: str = DEFAULT_FOLDER,
        policy: Optional[MediaPolicy] = None,
        retention_hours: float = DEFAULT_RETENTION_HOURS,
        shared: Optional[S3Media] = None,
    ) -> None:
        """``folder`` is created on first save; ``policy`` gives the size and type limits;
        files older than ``retention_hours`` are removed by ``sweep``; ``shared`` is the bucket
        every replica's uploads also go to (None: the folder alone)."""
        if not folder or not isinstance(folder, str):
            raise ValueError("MediaStore needs a folder name (e.g. 'var/media/uploads').")
        if not retention_hours or float(retention_hours) <= 0:
            raise ValueError("upload_retention_hours must be a positive number of hours.")
        self.folder = folder
        self.policy = policy or MediaPolicy()
        self.policy.validate()
        self.retention_s = float(retention_hours) * 3600.0
        self.shared = shared

    @classmethod
    def from_config(cls, config: Optional[Dict[str, Any]]) -> "MediaStore":
        """A store from channel credentials: ``media_folder``, ``upload_retention_hours``, the
        limit keys in LIMIT_KEYS and the shared bucket's keys (``shared_media.S3Media``)."""
        config = config or {}
        limits = {key: config[key] for key in LIMIT_KEYS if config.get(key) is not None}
        policy = MediaPolicy.from_config(limits)
        retention = config.get("upload_retention_hours")
        return cls(
            config.get("media_folder") or DEFAULT_FOLDER,
            policy,
            DEFAULT_RETENTION_HOURS if retention is None else float(retention),
            S3Media.from_config(config),
        )

    def sweep(self, now: Optional[float] = None) -> int:
        """Removes stored files older than the retention (and stale temporary files); returns
        how many were removed. Blocking file-system work: call it off the event loop."""
        now = time.time() if now is None else now
        removed = 0
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return 0
        for entry in entries:
            stored = os.path.splitext(entry.name)[1] in MIME_OF_EXTENSION
            temporary = entry.name.startswith(".upload-")
            if not (stored or temporary):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                age = now - entry.stat(follow_symlinks=False).st_mtime
                if age > (self.retention_s if stored else max(self.retention_s, _STALE_TEMPORARY_S)):
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:  # removed meanwhile (another replica's sweep)
                continue
        if removed:
            logger.info("Media store %s: removed %d upload(s) past retention.", self.folder, removed)
        return removed

    @property
    def max_upload_bytes(self) -> int:
        """The largest file any kind may be (the bigger of the image and audio caps)."""
        return self.policy.max_bytes(None)

    def real_folder(self) -> str:
        """The folder as a real absolute path (symlinks followed)."""
        return os.path.realpath(os.path.abspath(self.folder))

    def check(
        self,
        data: bytes,
        declared_kind: Optional[str] = None,
        declared_mime: Optional[str] = None,
        source: str = "upload",
    ) -> Tuple[str, str]:
        """(kind, mime) of acceptable media; raises AttachmentError with the customer message."""
        kind = kind_of_declared(declared_kind, self.policy)
        if not data:
            raise errors.make_error(errors.CORRUPT, source, kind)
        if len(data) > self.policy.max_bytes(kind):
            raise errors.make_error(
                errors.TOO_LARGE, source, kind, limit=errors.human_size(self.policy.max_bytes(kind))
            )
        kind, mime = check_type(data, self.policy, source, kind, normalise_mime(declared_mime))
        if kind == IMAGE:
            verify_image(data, mime, self.policy, source)
        else:
            verify_audio(data, mime, source, self.policy)
        return kind, mime

    def save(
        self,
        data: bytes,
        declared_kind: Optional[str] = None,
        declared_mime: Optional[str] = None,
        name: Optional[str] = None,
    ) -> Dict[str, str]:
        """Checks and stores ``data``; returns the reference ``{"type", "path", "mime"[, "name"]}``.

        Raises AttachmentError (``code`` + customer-facing ``message``) for refused files.
        """
        display_name = clean_display_name(name)
        kind, mime = self.check(data, declared_kind, declared_mime, display_name or "upload")
        file_name = hashlib.sha256(data).hexdigest() + EXTENSIONS[mime]
        if self.shared is not None:  # first, so a file other replicas cannot read is refused
            try:
                self.shared.put(file_name, data, mime)
            except SharedMediaError:
                _status, messages = refusals.refusal_texts(refusals.STORAGE_UNAVAILABLE)
                raise AttachmentError(
                    refusals.STORAGE_UNAVAILABLE, messages[ENGLISH], display_name or "upload", messages
                ) from None
        target = self._write_local(file_name, data)
        reference = {"type": kind, "path": target, "mime": mime}
        if display_name:
            reference["name"] = display_name
        return reference

    def _write_local(self, file_name: str, data: bytes) -> str:
        """Writes ``data`` as ``file_name`` in the folder atomically; returns its path."""
        os.makedirs(self.folder, exist_ok=True)
        target = os.path.join(self.folder, file_name)
        if os.path.isfile(target) and os.path.getsize(target) == len(data):
            os.utime(target)  # uploaded again: its retention starts over
            return target
        handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=self.folder)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return target

    def localise(self, path: Any) -> Optional[str]:
        """The local path of the upload ``path`` names, fetched from the shared bucket when
        another replica stored it; None when it is not an upload of this store.

        Without a bucket this is ``contains``. With one, any path whose file name is a content
        name (``<sha256><extension>``) is looked up by that name: the folder part may be another
        replica's. Fetched bytes are kept only when they hash to the name and pass the store's
        checks again. Blocking (network): call it off the event loop."""
        if self.contains(path):
            return path
        name = content_name(path)
        if self.shared is None or name is None or os.path.splitext(name)[1] not in MIME_OF_EXTENSION:
            return None
        local = materialise(self.shared, name, self.folder, self.max_upload_bytes)
        if local is None:
            return None
        os.utime(local)  # referred to again: its retention starts over
        try:  # the bucket is shared: its bytes pass this store's checks like an upload
            with open(local, "rb") as handle:
                self.check(handle.read(), None, MIME_OF_EXTENSION[os.path.splitext(name)[1]])
        except AttachmentError as error:
            logger.warning("Shared media: %s refused by the store's checks (%s).", name, error.code)
            os.unlink(local)
            return None
        return local if self.contains(local) else None

    def contains(self, path: str) -> bool:
        """True when ``path`` is a file stored here (real path directly inside the folder)."""
        if not isinstance(path, str) or not path or "\x00" in path:
            return False
        real = os.path.realpath(os.path.abspath(path))
        return (
            os.path.dirname(real) == self.real_folder()
            and os.path.splitext(real)[1] in MIME_OF_EXTENSION
            and os.path.isfile(real)
        )

    def stored_reference(self, entry: Any) -> Optional[Dict[str, str]]:
        """A client-sent reference reduced to its known keys when it points into this store.

        Channels whose clients may only send what they uploaded (the web chat) use this to drop
        references to anything else; None means "not ours". With a shared bucket an upload
        another replica stored is fetched first (``localise``: blocking, call it off the loop).
        """
        if not isinstance(entry, dict):
            return None
        path = self.localise(entry.get("path", ""))
        if path is None:
            return None
        mime = MIME_OF_EXTENSION[os.path.splitext(path)[1]]
        reference = {"type": mime.split("/", 1)[0], "path": path, "mime": mime}
        name = clean_display_name(entry.get("name"))
        if name:
            reference["name"] = name
        return reference
