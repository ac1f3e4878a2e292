"""The project's servers as subprocesses, for benchmarks and tests: the one home of free ports,
the offline server environment and "start, wait until healthy, stop".

Why here: benchmarks must not import ``tests/`` (pytest's conftest is not a library), tests may
import ``bench`` (the project root is on pytest's ``pythonpath``), and neither belongs in the
shipped packages (``components``, ``actions``), which never start servers themselves.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Dict, List, Optional, Sequence

import requests

from actions.db import DATABASE_URL_ENV

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# Defaults a developer may override in their environment (offline: no model hub, quiet TF).
OFFLINE_DEFAULTS = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
# How often a starting server is asked whether it is up: each pause also ends as soon as the
# process exits, so a crash is reported at once.
POLL_S = 0.5
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port on localhost nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def service_env(**extra: str) -> Dict[str, str]:
    """The environment for a project process: the current one, offline defaults, no telemetry,
    the project root on PYTHONPATH, then ``extra``."""
    env = {**OFFLINE_DEFAULTS, **os.environ, "RASA_TELEMETRY_ENABLED": "false", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


class Service:
    """One server process (working dir: the project root), its output in ``log``.

    Use it as a context manager, or call ``stop``; ``url`` is its base URL, ``health`` the path
    that answers 2xx once it serves.
    """

    def __init__(self, args: List[str], port: int, health: str, log: Path,
                 env: Optional[Dict[str, str]] = None) -> None:
        self.url = f"http://{HOST}:{port}"
        self.health = health
        self.log = Path(log)
        self._log_file: IO[str] = open(self.log, "w")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env or service_env(), stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def log_tail(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def _is_up(self) -> bool:
        try:
            return requests.get(f"{self.url}{self.health}", timeout=2).ok
        except requests.RequestException:
            return False

    def wait_until_up(self, timeout: float) -> str:
        """Returns ``url`` once the health path answers; RuntimeError (with the log) when the
        process exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._is_up():
                return self.url
            try:
                self.process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(
                f"{self.url} exited with code {self.process.returncode}:\n{self.log_tail()}"
            )
        raise RuntimeError(f"{self.url}{self.health} not up after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminates the process (kills it if it does not end) and closes the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self._log_file.close()

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def action_server(database_url: str, log: Path, **env: str) -> Service:
    """``python -m rasa_sdk --actions actions`` on a free port, against ``database_url``."""
    port = free_port()
    return Service(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        port, "/health", log, service_env(**{DATABASE_URL_ENV: database_url, **env}),
    )


def rasa_server(model: Path, credentials: Path, endpoints: Path, log: Path,
                extra_args: Sequence[str] = (), **env: str) -> Service:
    """``rasa run --enable-api`` on localhost and a free port with these files; ``extra_args``
    go to ``rasa run`` (e.g. ``["--auth-token", TOKEN]``: the health check then sends it)."""
    port = free_port()
    args = list(extra_args)
    health = "/status"
    if "--auth-token" in args:
        health += f"?token={args[args.index('--auth-token') + 1]}"
    return Service(
        [
            sys.executable, "-m", "rasa", "run", "--enable-api", "--interface", HOST,
            "--port", str(port), "--model", str(model),
            "--credentials", str(credentials), "--endpoints", str(endpoints), *args,
        ],
        port, health, log, service_env(**env),
    )


def endpoints_text(action_server_url: str) -> str:
    """endpoints.yml text that points Rasa at an action server's base URL."""
    return f"action_endpoint:\n  url: {action_server_url}/webhook\n"
