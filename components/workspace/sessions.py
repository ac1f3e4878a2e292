"""Signed session cookies and CSRF tokens for the agent workspace.

A session is the cookie ``SESSION_COOKIE``: ``<base64 JSON {"name", "sid", "exp"}>.<HMAC-SHA256>``
signed with the workspace secret, sent ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict``
(other sites' pages cannot send it) and ``Secure`` behind https. The account (role, active) is
read again on every request, so a role change or a disabled account applies at once.

Every POST carries a CSRF token (form field or header ``CSRF_HEADER``): the HMAC of the session's
random ``sid``, so a page of another origin, which cannot read the workspace's pages, cannot
produce it. The sign-in form, sent before there is a session, is bound the same way to a random
pre-session cookie (``LOGIN_COOKIE``).
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, Dict, Optional

SESSION_COOKIE = "workspace_session"
LOGIN_COOKIE = "workspace_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

DEFAULT_SESSION_HOURS = 8.0


def _mac(secret: bytes, purpose: str, value: str) -> str:
    return hmac.new(secret, f"{purpose}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()


class SessionCodec:
    """Issues and checks session cookies, login nonces and CSRF tokens with one secret."""

    def __init__(self, secret: bytes, session_hours: float = DEFAULT_SESSION_HOURS) -> None:
        if not secret:
            raise ValueError("The workspace needs a non-empty session secret.")
        if session_hours <= 0:
            raise ValueError("session_hours must be positive.")
        self._secret = secret
        self.max_age_s = int(session_hours * 3600)

    def issue(self, name: str, now: Optional[float] = None) -> str:
        payload = {"name": name, "sid": secrets.token_hex(16),
                   "exp": int((time.time() if now is None else now) + self.max_age_s)}
        body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
        return f"{body}.{_mac(self._secret, 'session', body)}"

    def read(self, cookie: Any, now: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The session's payload, or None for a missing, forged, malformed or expired cookie."""
        if not isinstance(cookie, str) or len(cookie) > 1024:
            return None
        body, _, signature = cookie.partition(".")
        if not hmac.compare_digest(_mac(self._secret, "session", body), signature):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            return None
        if not isinstance(payload.get("exp"), int) or payload["exp"] < (time.time() if now is None else now):
            return None
        return payload

    def csrf_token(self, session: Dict[str, Any]) -> str:
        return _mac(self._secret, "csrf", str(session.get("sid")))

    def check_csrf(self, session: Dict[str, Any], token: Any) -> bool:
        return isinstance(token, str) and hmac.compare_digest(self.csrf_token(session), token)

    @staticmethod
    def login_nonce() -> str:
        return secrets.token_hex(16)

    def login_token(self, nonce: str) -> str:
        return _mac(self._secret, "login", nonce)

    def check_login_token(self, nonce: Any, token: Any) -> bool:
        return (isinstance(nonce, str) and isinstance(token, str) and len(nonce) == 32
                and hmac.compare_digest(self.login_token(nonce), token))
