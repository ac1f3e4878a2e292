"""Transcripts on disk, keyed by audio content hash and recogniser, so ``rasa train`` never redoes ASR.

Rasa does not cache the output of ``process_training_data`` nodes, so without this every training run
would transcribe every voice example again. One small JSON file per (audio, backend) pair: safe with
several processes (atomic rename), trivially inspectable, and deleting the folder just costs time.
"""

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Optional, Union

from components.audio.asr import Transcript

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$RASA_CACHE_DIRECTORY/transcripts``, else ``.rasa/cache/transcripts``."""
    base = os.environ.get("RASA_CACHE_DIRECTORY") or os.path.join(".rasa", "cache")
    return Path(base) / "transcripts"


class TranscriptCache:
    """Get/put transcripts by ``(audio sha256, backend id)``."""

    def __init__(self, directory: Union[str, Path, None] = None) -> None:
        self.directory = Path(directory) if directory else default_cache_dir()

    @staticmethod
    def key(audio_sha256: str, backend_id: str) -> str:
        """Cache key: a change of model, options or audio gives a different key."""
        return hashlib.sha256(f"{audio_sha256}|{backend_id}".encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, audio_sha256: str, backend_id: str) -> Optional[Transcript]:
        """The cached transcript or None (a missing or unreadable entry is a miss)."""
        path = self._path(self.key(audio_sha256, backend_id))
        try:
            with open(path, "r", encoding="utf-8") as f:
                return Transcript.from_dict(json.load(f))
        except FileNotFoundError:
            return None
        except Exception as e:  # a damaged entry must not break training
            logger.warning(f"Ignoring unreadable transcript cache entry '{path}': {e}")
            return None

    def put(self, audio_sha256: str, backend_id: str, transcript: Transcript) -> None:
        """Writes atomically; failures (read-only disk) are logged, never raised."""
        path = self._path(self.key(audio_sha256, backend_id))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({**transcript.as_dict(), "backend": backend_id}, f)
            os.replace(tmp, path)
        except OSError as e:
            logger.warning(f"Could not write transcript cache entry '{path}': {e}")
