"""Per-session upload quotas: how many files and bytes one session may store per time window.

Why: every upload is written to the media store; without a cap one client can fill the disk in
seconds. The key is the server-issued identity of the uploader (web chat: the signed session;
REST: the authenticated sender, or the client address when REST is unauthenticated; Slack: the
Slack user whose files the channel downloads).

Counters live in this process's memory (a sliding window per key); with several replicas each
keeps its own, so the effective cap is per replica. Config keys (channel credentials), defaults
in DEFAULTS: ``upload_max_files`` files and ``upload_max_bytes`` bytes per ``upload_window_s``
seconds.
"""

import collections
import threading
import time
from typing import Any, Deque, Dict, Optional, Tuple

from components.channels import refusals
from components.channels.uploads import UploadError
from components.media.errors import human_size

DEFAULTS: Dict[str, float] = {
    "upload_max_files": 30,
    "upload_max_bytes": 100_000_000,
    "upload_window_s": 3600,
}

# Keys kept at most (oldest dropped first), so a flood of distinct keys cannot grow memory.
_MAX_KEYS = 100_000


class UploadQuota:
    """Sliding-window count and byte caps per uploader key; thread-safe."""

    def __init__(self, max_files: int, max_bytes: int, window_s: float) -> None:
        if max_files < 1 or max_bytes < 1 or window_s <= 0:
            raise ValueError("upload_max_files, upload_max_bytes and upload_window_s must be positive.")
        self.max_files = int(max_files)
        self.max_bytes = int(max_bytes)
        self.window_s = float(window_s)
        self._lock = threading.Lock()
        self._used: "collections.OrderedDict[str, Deque[Tuple[float, int]]]" = collections.OrderedDict()

    @classmethod
    def from_config(cls, config: Optional[Dict[str, Any]]) -> "UploadQuota":
        """From channel credentials (keys and defaults in DEFAULTS)."""
        config = config or {}
        values = {key: config.get(key, default) for key, default in DEFAULTS.items()}
        return cls(int(values["upload_max_files"]), int(values["upload_max_bytes"]), float(values["upload_window_s"]))

    def _window(self, key: str, now: float) -> Deque[Tuple[float, int]]:
        used = self._used.get(key)
        if used is None:
            used = collections.deque()
            self._used[key] = used
            while len(self._used) > _MAX_KEYS:
                self._used.popitem(last=False)
        self._used.move_to_end(key)
        while used and used[0][0] <= now - self.window_s:
            used.popleft()
        return used

    def admit(self, key: str, files: int = 1) -> None:
        """Raises 429 when ``key`` cannot store ``files`` more files now (checked before reading)."""
        with self._lock:
            used = self._window(key, time.monotonic())
            if len(used) + files > self.max_files:
                raise UploadError.refusal(refusals.UPLOAD_RATE_LIMITED, limit=self.max_files)

    def charge(self, key: str, size: int) -> None:
        """Records one file of ``size`` bytes for ``key``; raises 429 when it would pass a cap."""
        with self._lock:
            now = time.monotonic()
            used = self._window(key, now)
            if len(used) + 1 > self.max_files:
                raise UploadError.refusal(refusals.UPLOAD_RATE_LIMITED, limit=self.max_files)
            if sum(n for _, n in used) + size > self.max_bytes:
                raise UploadError.refusal(refusals.UPLOAD_QUOTA_EXCEEDED, limit=human_size(self.max_bytes))
            used.append((now, int(size)))
