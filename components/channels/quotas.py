"""Per-session upload quotas: how many files and bytes one session may store per time window.

Why: every upload is written to the media store; without a cap one client can fill the disk in
seconds. The key is the server-issued identity of the uploader (web chat: the signed session;
REST: the authenticated sender, or the client address when REST is unauthenticated; Slack: the
Slack user whose files the channel downloads).

Counters live in this process's memory (a sliding window per key), or, with
``UPLOAD_QUOTA_REDIS_URL`` set (e.g. ``redis://redis:6379/3``), in Redis, shared by every replica:
without it a client spread over N replicas would get N times the cap. Config keys (channel
credentials), defaults in DEFAULTS: ``upload_max_files`` files and ``upload_max_bytes`` bytes per
``upload_window_s`` seconds.
"""

import asyncio
import collections
import logging
import os
import threading
import time
import uuid
from typing import Any, Deque, Dict, Optional, Tuple

from components.channels import refusals
from components.channels.uploads import UploadError
from components.media.errors import human_size

DEFAULTS: Dict[str, float] = {
    "upload_max_files": 30,
    "upload_max_bytes": 100_000_000,
    "upload_window_s": 3600,
}

logger = logging.getLogger(__name__)

REDIS_URL_ENV = "UPLOAD_QUOTA_REDIS_URL"
# A Redis that does not answer within this many seconds refuses the upload (storage_unavailable).
REDIS_TIMEOUT_S = 1.0

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
        """From channel credentials (keys and defaults in DEFAULTS); shared through Redis when
        env UPLOAD_QUOTA_REDIS_URL is set."""
        config = config or {}
        values = {key: config.get(key, default) for key, default in DEFAULTS.items()}
        caps = (int(values["upload_max_files"]), int(values["upload_max_bytes"]), float(values["upload_window_s"]))
        url = os.environ.get(REDIS_URL_ENV)
        return RedisUploadQuota(url, *caps) if url else cls(*caps)

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

    async def admitted(self, key: str, files: int = 1) -> None:
        """``admit`` off the event loop (the channels' way in): the shared counter is a Redis
        round trip that must not hold other conversations."""
        await asyncio.to_thread(self.admit, key, files)

    async def charged(self, key: str, size: int) -> None:
        """``charge`` off the event loop, as ``admitted``."""
        await asyncio.to_thread(self.charge, key, size)

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


# KEYS[1] the uploader's window; ARGV: window_s, max_files, max_bytes, files (admit) or size
# (charge), a unique member id, 1 to charge or 0 to only check. Returns 0 (admitted), 1 (file cap)
# or 2 (byte cap). Redis's own clock, so replicas' clocks need not agree; one script, so two
# replicas charging the same uploader at once cannot both pass the last free slot.
_WINDOW_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local window, max_files, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZRANGE', KEYS[1], 0, -1)
if ARGV[6] == '0' then
  if #used + amount > max_files then return 1 end
  return 0
end
if #used + 1 > max_files then return 1 end
local bytes = 0
for _, member in ipairs(used) do bytes = bytes + tonumber(string.match(member, ':(%d+)$')) end
if bytes + amount > max_bytes then return 2 end
redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. amount)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return 0
"""


class RedisUploadQuota(UploadQuota):
    """The same caps, counted in Redis (one sorted set per uploader, expiring with its window),
    so every replica sees the uploads the others took. A Redis that fails or does not answer in
    REDIS_TIMEOUT_S refuses the upload (503 storage_unavailable, logged): an uploader is never
    let past the cap because the counter is down. The channels call it through ``admitted`` /
    ``charged``, in a worker thread, so a slow Redis holds only that upload."""

    KEY_PREFIX = "upload-quota:"

    def __init__(self, url: str, max_files: int, max_bytes: int, window_s: float) -> None:
        super().__init__(max_files, max_bytes, window_s)
        import redis

        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
        except ValueError as e:  # a malformed URL: refuse to start, naming the setting
            raise ValueError(f"{REDIS_URL_ENV}={url!r} is not a Redis URL such as redis://redis:6379/3: {e}") from None
        self._script = self._redis.register_script(_WINDOW_SCRIPT)

    def _run(self, key: str, amount: int, charge: bool) -> int:
        import redis

        args = [self.window_s, self.max_files, self.max_bytes, int(amount), uuid.uuid4().hex, int(charge)]
        try:
            return int(self._script(keys=[self.KEY_PREFIX + key], args=args))
        except redis.RedisError as e:
            logger.error("Upload quota: Redis did not answer (%s); the upload is refused.", e)
            raise UploadError.refusal(refusals.STORAGE_UNAVAILABLE) from None

    def admit(self, key: str, files: int = 1) -> None:
        if self._run(key, files, charge=False):
            raise UploadError.refusal(refusals.UPLOAD_RATE_LIMITED, limit=self.max_files)

    def charge(self, key: str, size: int) -> None:
        outcome = self._run(key, size, charge=True)
        if outcome == 1:
            raise UploadError.refusal(refusals.UPLOAD_RATE_LIMITED, limit=self.max_files)
        if outcome == 2:
            raise UploadError.refusal(refusals.UPLOAD_QUOTA_EXCEEDED, limit=human_size(self.max_bytes))
