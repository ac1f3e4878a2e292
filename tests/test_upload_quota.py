"""Upload quotas shared by replicas through Redis (real redis-server): an uploader spread over
several `rasa run` processes gets the cap once, not once per process. Bounded loops only."""

import asyncio
import concurrent.futures
import socket
import time
from typing import Iterator

import pytest

from components.channels import refusals
from components.channels.quotas import REDIS_URL_ENV, RedisUploadQuota, UploadQuota
from components.channels.uploads import UploadError
from deploy import services

QUOTA_DB = 3


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if services.find_binary("redis-server") is None:
        pytest.skip("needs redis-server (Debian package redis-server)")
    with services.redis_server(tmp_path_factory.mktemp("redis")) as server:
        server.wait_until_up(30)
        yield f"{server.url}/{QUOTA_DB}"


def refused_code(call) -> str:
    with pytest.raises(UploadError) as refused:
        call()
    return refused.value.code


def replicas(url: str, count: int = 2, **caps) -> list:
    caps = {"max_files": 3, "max_bytes": 1_000, "window_s": 60, **caps}
    return [RedisUploadQuota(url, **caps) for _ in range(count)]


def test_the_file_and_byte_caps_count_across_replicas(redis_url: str) -> None:
    a, b = replicas(redis_url)
    a.charge("session-1", 100)
    b.charge("session-1", 100)
    a.admit("session-1")  # one slot left
    assert refused_code(lambda: b.admit("session-1", 2)) == refusals.UPLOAD_RATE_LIMITED
    b.charge("session-1", 100)
    for quota in (a, b):
        assert refused_code(lambda: quota.admit("session-1")) == refusals.UPLOAD_RATE_LIMITED
        assert refused_code(lambda: quota.charge("session-1", 1)) == refusals.UPLOAD_RATE_LIMITED
    a.charge("session-2", 900)  # another uploader has its own window
    assert refused_code(lambda: b.charge("session-2", 101)) == refusals.UPLOAD_QUOTA_EXCEEDED
    b.charge("session-2", 100)  # a refused file used nothing


def test_the_window_slides(redis_url: str) -> None:
    a, b = replicas(redis_url, max_files=1, window_s=0.5)
    a.charge("sliding", 1)
    started = time.monotonic()
    while True:  # refused until the first upload leaves the window, then admitted (bounded)
        try:
            b.charge("sliding", 1)
            break
        except UploadError as refused:
            assert refused.code == refusals.UPLOAD_RATE_LIMITED and time.monotonic() - started < 10
    assert time.monotonic() - started >= 0.4  # not before the window (Redis's clock; 0.1 s slack)


def test_replicas_charging_one_uploader_at_once_never_pass_the_cap(redis_url: str) -> None:
    quotas = replicas(redis_url, count=4, max_files=5, max_bytes=10**9)

    def charge(i: int) -> bool:
        try:
            quotas[i % len(quotas)].charge("raced", 10)
            return True
        except UploadError:
            return False

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        admitted = list(pool.map(charge, range(40)))
    assert sum(admitted) == 5


def test_a_redis_that_does_not_answer_refuses_the_upload_quickly() -> None:
    quota = RedisUploadQuota(f"redis://127.0.0.1:{services.free_port()}/{QUOTA_DB}", 3, 1_000, 60)
    started = time.monotonic()
    assert refused_code(lambda: quota.charge("anyone", 1)) == refusals.STORAGE_UNAVAILABLE
    assert refused_code(lambda: quota.admit("anyone")) == refusals.STORAGE_UNAVAILABLE
    assert time.monotonic() - started < 10


def test_a_redis_that_hangs_holds_only_that_upload_not_the_event_loop() -> None:
    """A listener that takes the connection and never answers: the upload is refused after the
    timeout while the channel's event loop goes on serving (here: a ticker coroutine)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        quota = RedisUploadQuota(f"redis://127.0.0.1:{listener.getsockname()[1]}/{QUOTA_DB}", 3, 1_000, 60)

        async def upload_while_ticking() -> tuple:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            try:
                await quota.admitted("anyone")
            except UploadError as refused:
                return refused.code, ticks
            finally:
                ticker.cancel()
            return None, ticks

        code, ticks = asyncio.run(upload_while_ticking())
    assert code == refusals.STORAGE_UNAVAILABLE
    assert ticks >= 20  # the 1 s wait was the upload's alone (a blocked loop ticks ~0)


def test_the_environment_chooses_where_counters_live(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REDIS_URL_ENV, raising=False)
    assert type(UploadQuota.from_config({"upload_max_files": 2})) is UploadQuota
    monkeypatch.setenv(REDIS_URL_ENV, redis_url)
    shared = UploadQuota.from_config({"upload_max_files": 2})
    assert isinstance(shared, RedisUploadQuota) and shared.max_files == 2
    monkeypatch.setenv(REDIS_URL_ENV, "redis-at-port-6379")
    with pytest.raises(ValueError, match="UPLOAD_QUOTA_REDIS_URL='redis-at-port-6379' is not a Redis URL"):
        UploadQuota.from_config({})
