"""The whole scale-out stack on one machine: PostgreSQL (tracker store and shop database),
redis-server (lock store and socket.io messages), an S3 server (shared media), M action servers
and N ``rasa run`` replicas, HAProxy in front of both. Every server binds 127.0.0.1.

    python -m deploy.stack --model models/final.tar.gz --replicas 2 --actions 1

prints the URLs and serves until Ctrl-C, then stops everything. Tests and bench/cluster.py use
``Stack`` directly. Each replica gets its own media folder (as a separate machine would have its
own disk): uploads reach the other replicas only through the bucket. See deploy/README.md for the
same pieces on several machines.
"""

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Dict, List, Optional

from bench import servers
from bench.servers import HOST, ROOT, Service
from deploy import services

# endpoints.yml of every replica: the shared stores, by URL (one home for the stack's wiring).
ENDPOINTS = """action_endpoint:
  url: {action_url}/webhook
tracker_store:
  type: SQL
  url: {tracker_url}
lock_store:
  type: components.serving.lock_store.AtomicRedisLockStore
  url: {redis_host}
  port: {redis_port}
  db: 1
  key_prefix: {key_prefix}
"""

# credentials.yml of every replica: REST and the web chat, the replica's own upload folder.
CREDENTIALS = """components.channels.rest.MediaRestInput:
  media_folder: {media_folder}
  upload_max_files: {upload_max_files}
components.channels.webchat.WebChatInput:
  session_persistence: true
  media_folder: {media_folder}
"""
# The REST channel's per-uploader default (docs/channels.md); a bench whose simulated customers
# all come from 127.0.0.1 raises it.
DEFAULT_UPLOAD_MAX_FILES = 30

S3_ACCESS_KEY = "shop-media"
# Redis databases: 1 the lock store (endpoints), 2 socket.io's messages, 3 the upload quotas.
SOCKETIO_DB = 2
QUOTA_DB = 3
# Seconds a replica may take to load every model (2 cores, several processes at once).
REPLICA_START_S = 900
ACTION_START_S = 180


def start_postgres() -> "tuple[str, Optional[str]]":
    """(URL, cluster dir to stop) of a PostgreSQL: TEST_POSTGRES_URL when set, else a throwaway
    cluster from scripts/postgres."""
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"], None
    done = subprocess.run([str(ROOT / "scripts" / "postgres")], capture_output=True, text=True,
                          timeout=600, check=True)
    found = re.search(r"cluster in (\S+)", done.stderr)
    return done.stdout.strip(), found.group(1) if found else None


def stop_postgres(folder: Optional[str]) -> None:
    if folder:
        subprocess.run([str(ROOT / "scripts" / "postgres"), "stop", folder], capture_output=True,
                       timeout=120)


class Stack:
    """Start with ``start()`` (or as a context manager); ``url`` is HAProxy's, ``replicas`` the
    replicas' own URLs (tests use them to pick a replica), ``stop()`` ends everything."""

    def __init__(self, model: Path, folder: Path, replicas: int = 2, actions: int = 1,
                 token: Optional[str] = None,
                 upload_max_files: int = DEFAULT_UPLOAD_MAX_FILES) -> None:
        self.model = Path(model)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.replica_count = replicas
        self.action_count = actions
        self.token = token or secrets.token_hex(16)
        self.upload_max_files = upload_max_files
        self.name = f"cluster-{uuid.uuid4().hex[:8]}"
        self._exit = contextlib.ExitStack()
        self._pg_folder: Optional[str] = None
        self.database_url = ""
        self.redis: Optional[services.Daemon] = None
        self.s3: Optional[services.Daemon] = None
        self.s3_secret = secrets.token_hex(12)
        self.actions: List[Service] = []
        self.replica_services: List[Optional[Service]] = []
        self.balancer: Optional[services.Daemon] = None
        self.action_balancer: Optional[services.Daemon] = None
        self.url = ""
        self._ports: Dict[int, int] = {}

    # -- pieces -------------------------------------------------------------------------------
    def media_folder(self, index: int) -> str:
        """Replica ``index``'s upload folder, inside the assistant's upload root."""
        return f"var/media/uploads/{self.name}/rasa{index}"

    def replica_env(self) -> Dict[str, str]:
        """What every replica shares: bucket, keys, socket.io's and the upload quotas' Redis, the
        web chat's secret."""
        assert self.redis is not None and self.s3 is not None
        return {
            "MEDIA_S3_BUCKET": services.MEDIA_BUCKET,
            "MEDIA_S3_ENDPOINT_URL": self.s3.url,
            "MEDIA_S3_PREFIX": f"{self.name}/",
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret,
            "SOCKETIO_REDIS_URL": f"{self.redis.url}/{SOCKETIO_DB}",
            "SOCKETIO_REDIS_CHANNEL": self.name,
            "UPLOAD_QUOTA_REDIS_URL": f"{self.redis.url}/{QUOTA_DB}",
            # The client address is the last X-Forwarded-For entry, the one HAProxy appended.
            "SANIC_PROXIES_COUNT": "1",
            "MM_SESSION_SECRET": self._session_secret,
        }

    def start_replica(self, index: int) -> Service:
        """Starts replica ``index`` (1-based; again after it died) and waits until it serves."""
        folder = self.folder / f"rasa{index}"
        folder.mkdir(exist_ok=True)
        assert self.redis is not None and self.action_balancer is not None
        redis_host, redis_port = self.redis.url.rsplit("//", 1)[1].split(":")
        (folder / "endpoints.yml").write_text(ENDPOINTS.format(
            action_url=self.action_balancer.url, tracker_url=self.database_url,
            redis_host=redis_host, redis_port=redis_port, key_prefix=self.name.replace("-", ""),
        ))
        (folder / "credentials.yml").write_text(CREDENTIALS.format(
            media_folder=self.media_folder(index), upload_max_files=self.upload_max_files))
        port = self._ports.setdefault(index, servers.free_port())  # a restart keeps its port
        args = [
            sys.executable, "-m", "rasa", "run", "--enable-api", "--interface", HOST,
            "--port", str(port), "--model", str(self.model),
            "--credentials", str(folder / "credentials.yml"),
            "--endpoints", str(folder / "endpoints.yml"), "--auth-token", self.token,
        ]
        log = folder / f"rasa-{len(list(folder.glob('rasa-*.log')))}.log"
        service = Service(args, port, f"/status?token={self.token}", log,
                          servers.service_env(**self.replica_env()))
        while len(self.replica_services) < index:
            self.replica_services.append(None)
        self.replica_services[index - 1] = service
        service.wait_until_up(REPLICA_START_S)
        return service

    @property
    def replicas(self) -> List[str]:
        return [s.url for s in self.replica_services if s is not None]

    def kill_replica(self, index: int) -> None:
        """SIGKILL, as a crashed machine: no shutdown, no cleanup."""
        service = self.replica_services[index - 1]
        assert service is not None
        service.process.send_signal(signal.SIGKILL)
        service.process.wait(timeout=30)
        service.stop()

    # -- whole stack ---------------------------------------------------------------------------
    def start(self) -> "Stack":
        self._session_secret = secrets.token_hex(16)
        self._exit.callback(shutil.rmtree, ROOT / "var" / "media" / "uploads" / self.name, True)
        self.database_url, self._pg_folder = start_postgres()
        self._exit.callback(stop_postgres, self._pg_folder)
        self.redis = self._exit.enter_context(services.redis_server(self.folder))
        self.s3 = self._exit.enter_context(
            services.s3_server(self.folder, S3_ACCESS_KEY, self.s3_secret))
        self.redis.wait_until_up(30)
        self.s3.wait_until_up(60)
        for index in range(self.action_count):
            action = servers.action_server(self.database_url, self.folder / f"actions{index + 1}.log")
            self._exit.callback(action.stop)
            self.actions.append(action)
        for action in self.actions:
            action.wait_until_up(ACTION_START_S)
        self.action_balancer = self._exit.enter_context(services.haproxy(
            self.folder / "actions", [a.url.split("//", 1)[1] for a in self.actions], health="/health"))
        self.action_balancer.wait_until_up(30)
        self._exit.callback(self._stop_replicas)
        # Replicas load their models one after the other: at once they fight for 2 cores.
        for index in range(1, self.replica_count + 1):
            self.start_replica(index)
        self.balancer = self._exit.enter_context(services.haproxy(
            self.folder / "rasa", [u.split("//", 1)[1] for u in self.replicas]))
        self.balancer.wait_until_up(30)
        self.url = self.balancer.url
        return self

    def _stop_replicas(self) -> None:
        for service in self.replica_services:
            if service is not None:
                service.stop()

    def stop(self) -> None:
        self._exit.close()

    def __enter__(self) -> "Stack":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained model (.tar.gz)")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--actions", type=int, default=1)
    parser.add_argument("--folder", default=str(ROOT / "var" / "cluster"))
    args = parser.parse_args()
    with Stack(Path(args.model), Path(args.folder), args.replicas, args.actions) as stack:
        print(f"chat (HAProxy): {stack.url}/webhooks/webchat/   REST: {stack.url}/webhooks/rest/webhook")
        print(f"replicas: {' '.join(stack.replicas)}   API token: {stack.token}")
        print(f"PostgreSQL: {stack.database_url}   logs: {args.folder}   Ctrl-C stops everything")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            while not stopped.wait(3600):
                pass
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
