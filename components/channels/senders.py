"""Who is speaking: per-channel sender namespaces, signed web chat sessions, REST sender tokens.

Rasa keys a conversation (tracker, slots, the customer's order details) by its sender id alone,
whichever channel the message came in on. So a sender id must be something a client cannot
simply name:

- Web chat: the server issues the session id, ``webchat-<random>.<HMAC>``, signed with a server
  secret (credentials ``session_secret``, else env ``MM_SESSION_SECRET``, else a random secret
  generated once into ``var/session_secret``). The page stores it and sends it back; an id the
  server did not sign is refused. Nobody can guess another customer's id or mint a valid one.
- Slack: conversation ids are Slack's user / channel ids behind the ``slack-`` prefix; Slack's
  signed request is the proof.
- REST: the client names the sender. Ids in another channel's namespace (``webchat-``,
  ``slack-``) are refused, so REST can never continue a web chat or Slack conversation. With
  ``sender_token_secret`` (HMAC, see ``sign_sender_token``) or ``jwt_key`` (JWT, claim ``sub``)
  configured, every request must carry ``Authorization: Bearer <token>`` for its sender, issued
  by the integrator's backend; without them anyone who can reach the endpoint can speak as any
  REST sender id (and so read what that conversation was told).

Why prefixes rather than one secret-signed id for everyone: REST senders are the integrator's
own customer ids (their backend already authenticates them), so REST keeps plain ids and only
the channels whose ids the server mints or Slack proves are fenced off.
"""

import hashlib
import hmac
import logging
import os
import secrets
import time
from typing import Any, Dict, Optional

from components.constants import MAX_CUSTOMER_ID_CHARS, VERIFIED_CUSTOMER

logger = logging.getLogger(__name__)

WEBCHAT_PREFIX = "webchat-"
SLACK_PREFIX = "slack-"
# Sender id prefixes that belong to a channel which proves its senders itself.
RESERVED_PREFIXES = (WEBCHAT_PREFIX, SLACK_PREFIX)

SESSION_SECRET_ENV = "MM_SESSION_SECRET"
DEFAULT_SECRET_FILE = "var/session_secret"

# Longest sender id a REST client may use (web chat ids are 73 characters).
MAX_SENDER_CHARS = 128

_SIGNATURE_HEX = 32  # 128 bits of HMAC-SHA256


def _sign(secret: bytes, value: str) -> str:
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def load_secret(configured: Optional[str], secret_file: str = DEFAULT_SECRET_FILE) -> bytes:
    """The session secret: configured value, else env MM_SESSION_SECRET, else the file (created
    once with a random secret, readable by the owner only). Replicas must share it."""
    value = configured or os.environ.get(SESSION_SECRET_ENV)
    if value:
        return str(value).encode("utf-8")
    try:
        with open(secret_file, "rb") as handle:
            stored = handle.read().strip()
        if stored:
            return stored
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(secret_file) or ".", exist_ok=True)
    generated = secrets.token_hex(32).encode("ascii")
    try:
        descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        with open(secret_file, "rb") as handle:
            return handle.read().strip()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(generated)
    logger.info("Generated a web chat session secret in %s.", secret_file)
    return generated


class SessionSigner:
    """Issues and checks web chat session ids (``webchat-<random>.<signature>``).

    A session of a signed-in shop customer (``owner``, the customer id the socket's JWT vouches
    for) is signed for that customer: the conversation remembers orders verified in it, so on a
    shared browser the next customer to sign in gets a session of their own, not the last one's."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("SessionSigner needs a non-empty secret.")
        self._secret = secret

    @classmethod
    def from_config(cls, config: Optional[Dict[str, Any]]) -> "SessionSigner":
        """From channel credentials: ``session_secret`` (else env / generated file)."""
        config = config or {}
        return cls(load_secret(config.get("session_secret"), config.get("session_secret_file") or DEFAULT_SECRET_FILE))

    def issue(self, owner: Optional[str] = None) -> str:
        """A new, unguessable session id signed by this server (for ``owner``, if given)."""
        nonce = secrets.token_hex(16)
        return f"{WEBCHAT_PREFIX}{nonce}.{self._signature(nonce, owner)}"

    def verify(self, session_id: Any, owner: Optional[str] = None) -> bool:
        """True only for an id this server issued (same secret) to the same ``owner``."""
        if not isinstance(session_id, str) or not session_id.startswith(WEBCHAT_PREFIX):
            return False
        nonce, _, signature = session_id[len(WEBCHAT_PREFIX):].partition(".")
        if len(nonce) != 32 or len(signature) != _SIGNATURE_HEX:
            return False
        return hmac.compare_digest(self._signature(nonce, owner), signature)

    def _signature(self, nonce: str, owner: Optional[str]) -> str:
        payload = "webchat:" + nonce if owner is None else f"webchat:{nonce}:customer:{owner}"
        return _sign(self._secret, payload)[:_SIGNATURE_HEX]


def is_reserved(sender_id: str) -> bool:
    """True for ids in another channel's namespace (web chat sessions, Slack conversations)."""
    return sender_id.lower().startswith(RESERVED_PREFIXES)


def _token_payload(sender_id: str, expires: int) -> str:
    return f"rest:{sender_id}\n{expires}"


def sign_sender_token(secret: str, sender_id: str, ttl_s: float = 3600.0, now: Optional[float] = None) -> str:
    """The REST sender token an integrator's backend gives its client: ``<expiry>.<HMAC>``,
    valid for ``sender_id`` until ``ttl_s`` seconds from now."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{expires}.{_sign(secret.encode('utf-8'), _token_payload(sender_id, expires))}"


def verify_sender_token(secret: str, sender_id: str, token: str, now: Optional[float] = None) -> bool:
    """True when ``token`` was signed with ``secret`` for ``sender_id`` and has not expired."""
    expires, _, signature = (token or "").strip().partition(".")
    if not expires.isdigit() or not signature:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    expected = _sign(secret.encode("utf-8"), _token_payload(sender_id, int(expires)))
    return hmac.compare_digest(expected, signature)


def claimed_customer(claims: Dict[str, Any]) -> Optional[str]:
    """The shop customer a valid JWT vouches for (its ``customer_id`` claim), None when it names
    none. The integrator's backend signed the customer in and minted the token; a claim that is
    not 1 to ``MAX_CUSTOMER_ID_CHARS`` printable characters is its bug: ``ValueError``."""
    if VERIFIED_CUSTOMER not in claims:
        return None
    customer = claims[VERIFIED_CUSTOMER]
    if not isinstance(customer, str) or not 0 < len(customer) <= MAX_CUSTOMER_ID_CHARS or not customer.isprintable():
        raise ValueError(f"The token's '{VERIFIED_CUSTOMER}' claim must be 1 to {MAX_CUSTOMER_ID_CHARS} printable characters.")
    return customer
