"""A local stand-in for Slack's Web API and file hosting, speaking Slack's real formats.

- ``POST /api/chat.postMessage`` (JSON or form, ``Authorization: Bearer <bot token>``): recorded
  in ``posts``; answers ``{"ok": true, "channel", "ts", "message"}`` or ``invalid_auth``.
- ``GET /api/files.info?file=F..``: the stored file object (``{"ok": true, "file": {...}}``).
- ``GET /files-pri/<team>-<file id>/<name>`` (and ``/download/<name>``): the file bytes, only
  with the bot token; without it Slack answers 200 with its HTML sign-in page, and so does this.
Events sent to the bot are built with ``message_event`` and signed with ``signed_headers``
(X-Slack-Signature v0 HMAC-SHA256 + X-Slack-Request-Timestamp).

Tests wait for what the bot did (``wait_for_posts_to``), never for time; ``holding_files`` and
``holding_posts`` keep file downloads or chat.postMessage calls waiting, so a test can show the
bot answered Slack before it downloaded or replied.
"""

import contextlib
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional

TEAM_ID = "T0TESTTEAM"
BOT_USER_ID = "U0BOTUSER"
APP_ID = "A0TESTAPP"

_LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


class FakeSlack:
    """Threaded HTTP server; ``base_url`` is its root, ``api_url`` what the bot's client uses."""

    def __init__(self, bot_token: str) -> None:
        self.bot_token = bot_token
        self.files: Dict[str, Dict[str, Any]] = {}
        self._bodies: Dict[str, bytes] = {}
        self._redirects: Dict[str, str] = {}
        self.posts: List[Dict[str, Any]] = []
        self.file_requests: List[Dict[str, Any]] = []
        self._lock = threading.Condition()
        self._files_open = threading.Event()
        self._posts_open = threading.Event()
        self._files_open.set()
        self._posts_open.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def start(self) -> "FakeSlack":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -------------------------------------------------------------------- files
    def add_file(self, file_id: str, name: str, body: bytes, mimetype: str, filetype: str) -> Dict[str, Any]:
        """Registers a file and returns its Slack file object (as in a file_share event)."""
        quoted = urllib.parse.quote(name)
        url_private = f"{self.base_url}/files-pri/{TEAM_ID}-{file_id}/{quoted}"
        file = {
            "id": file_id,
            "created": int(time.time()),
            "timestamp": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": "U0CUSTOMER",
            "user_team": TEAM_ID,
            "editable": False,
            "size": len(body),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url_private,
            "url_private_download": f"{self.base_url}/files-pri/{TEAM_ID}-{file_id}/download/{quoted}",
            "permalink": f"https://testteam.slack.com/files/U0CUSTOMER/{file_id}/{quoted}",
            "is_starred": False,
            "has_rich_preview": False,
            "file_access": "visible",
        }
        self.files[file_id] = file
        self._bodies[file_id] = body
        return file

    def redirect_file(self, file_id: str, location: str) -> None:
        """Downloads of ``file_id`` answer 302 to ``location`` (as Slack's CDN may)."""
        self._redirects[file_id] = location

    # -------------------------------------------------------------------- waiting
    def wait_for_posts_to(self, channel: str, count: int = 1, timeout: float = 120.0) -> List[Dict[str, Any]]:
        """Blocks until ``count`` chat.postMessage calls to ``channel`` were answered; returns them."""
        with self._lock:
            arrived = self._lock.wait_for(lambda: len(self._posts_to(channel)) >= count, timeout)
            posts = self._posts_to(channel)
        assert arrived, f"expected {count} posts to {channel} within {timeout:.0f} s, got {posts}"
        return posts

    def posts_to(self, channel: str) -> List[Dict[str, Any]]:
        with self._lock:
            return self._posts_to(channel)

    def _posts_to(self, channel: str) -> List[Dict[str, Any]]:
        return [p for p in self.posts if p.get("channel") == channel]

    @contextlib.contextmanager
    def holding_files(self) -> Iterator[None]:
        """File downloads wait (at most a minute) until the block ends."""
        with self._holding(self._files_open):
            yield

    @contextlib.contextmanager
    def holding_posts(self) -> Iterator[None]:
        """chat.postMessage calls wait (at most a minute) until the block ends."""
        with self._holding(self._posts_open):
            yield

    @staticmethod
    @contextlib.contextmanager
    def _holding(gate: threading.Event) -> Iterator[None]:
        gate.clear()
        try:
            yield
        finally:
            gate.set()

    # -------------------------------------------------------------------- HTTP
    def _handler_class(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _authorised(self) -> bool:
                return self.headers.get("Authorization", "") == f"Bearer {fake.bot_token}"

            def _json(self, payload: Dict[str, Any], status: int = 200) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                parts = urllib.parse.urlsplit(self.path)
                if parts.path == "/api/files.info":
                    if not self._authorised():
                        return self._json({"ok": False, "error": "invalid_auth"})
                    file_id = urllib.parse.parse_qs(parts.query).get("file", [""])[0]
                    file = fake.files.get(file_id)
                    if file is None:
                        return self._json({"ok": False, "error": "file_not_found"})
                    return self._json({"ok": True, "file": file})
                if parts.path.startswith("/files-pri/"):
                    team_and_id = parts.path.split("/")[2]
                    file_id = team_and_id.split("-", 1)[-1]
                    with fake._lock:
                        fake.file_requests.append(
                            {"path": parts.path, "authorization": self.headers.get("Authorization")}
                        )
                    fake._files_open.wait(60)
                    if file_id in fake._redirects:
                        self.send_response(302)
                        self.send_header("Location", fake._redirects[file_id])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    if file_id not in fake._bodies:
                        self.send_response(404)
                        self.end_headers()
                        return None
                    if not self._authorised():
                        self.send_response(200)
                        self.send_header("Content-Type", "text/html; charset=utf-8")
                        self.send_header("Content-Length", str(len(_LOGIN_PAGE)))
                        self.end_headers()
                        self.wfile.write(_LOGIN_PAGE)
                        return None
                    body = fake._bodies[file_id]
                    self.send_response(200)
                    self.send_header("Content-Type", fake.files[file_id]["mimetype"])
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return None
                self.send_response(404)
                self.end_headers()
                return None

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = urllib.parse.urlsplit(self.path)
                if parts.path != "/api/chat.postMessage":
                    return self._json({"ok": False, "error": "unknown_method"}, 404)
                if not self._authorised():
                    return self._json({"ok": False, "error": "invalid_auth"})
                if (self.headers.get("Content-Type") or "").startswith("application/json"):
                    payload = json.loads(raw or b"{}")
                else:
                    payload = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                fake._posts_open.wait(60)
                ts = f"{time.time():.6f}"
                self._json(
                    {
                        "ok": True,
                        "channel": payload.get("channel"),
                        "ts": ts,
                        "message": {"type": "message", "text": payload.get("text"), "ts": ts, "bot_id": "B0BOT"},
                    }
                )
                with fake._lock:  # recorded once answered: the bot has its reply when a test wakes
                    fake.posts.append(payload)
                    fake._lock.notify_all()
                return None

        return Handler


# ------------------------------------------------------------------------ events
def message_event(
    text: str,
    channel: str,
    user: str = "U0CUSTOMER",
    files: Optional[List[Dict[str, Any]]] = None,
    event_id: Optional[str] = None,
    **extra: Any,
) -> Dict[str, Any]:
    """An Events API ``event_callback`` for a direct message (``channel_type: im``), as Slack
    sends it; with ``files`` it is a ``file_share`` message (text may be empty)."""
    ts = f"{time.time():.6f}"
    event: Dict[str, Any] = {
        "type": "message",
        "text": text,
        "user": user,
        "ts": ts,
        "team": TEAM_ID,
        "channel": channel,
        "event_ts": ts,
        "channel_type": "im",
    }
    if files is not None:
        event.update({"subtype": "file_share", "files": files, "upload": False, "display_as_bot": False})
    else:
        event["client_msg_id"] = hashlib.md5(ts.encode()).hexdigest()
    event.update(extra)
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{hashlib.sha1(ts.encode()).hexdigest()[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
    }


def signed_headers(body: bytes, signing_secret: str, timestamp: Optional[int] = None) -> Dict[str, str]:
    """Slack's request signing: v0=HMAC-SHA256(secret, "v0:<ts>:<body>")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }
