"""Agent accounts: argon2id password hashes (argon2-cffi; the salt lives inside the hash) and the
check a sign-in makes. The accounts themselves are rows of the shop database (``actions.db``)."""

import re
from typing import Any, Dict, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from actions import db

# Shortest password ``add-user`` accepts.
MIN_PASSWORD_CHARS = 10
# Longest password a sign-in hashes (argon2 would take any length; this bounds the work).
MAX_PASSWORD_CHARS = 256

_hasher = PasswordHasher()
# Hashed when the name is unknown, so a sign-in takes as long whether or not the account exists.
_DUMMY_HASH = _hasher.hash("no such agent, but the same work")
_NAME = re.compile(db.AGENT_NAME_PATTERN)


class AccountError(ValueError):
    """A name or password that cannot be used (said to whoever creates the account)."""


def check_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not _NAME.match(name):
        raise AccountError("An agent name is 2-32 characters: a lower-case letter first, then "
                           "letters, digits, '.', '_' or '-'.")
    return name


def create_agent(database: db.ShopDatabase, name: str, password: str, role: str = db.AGENT_ROLE,
                 display_name: Optional[str] = None) -> str:
    """Adds (or resets) an account with a freshly salted hash; returns the normalised name."""
    name = check_name(name)
    if role not in db.AGENT_ROLES:
        raise AccountError(f"The role is one of {', '.join(db.AGENT_ROLES)}.")
    if not (MIN_PASSWORD_CHARS <= len(password or "") <= MAX_PASSWORD_CHARS):
        raise AccountError(f"A password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.")
    database.create_agent(name, (display_name or name).strip()[:120], _hasher.hash(password), role)
    return name


def authenticate(database: db.ShopDatabase, name: str, password: str) -> Optional[Dict[str, Any]]:
    """The active account whose password this is, else None (unknown name and wrong password
    look the same, and cost the same)."""
    password = password if isinstance(password, str) else ""
    try:
        account = database.get_agent(check_name(name)) if len(password) <= MAX_PASSWORD_CHARS else None
    except AccountError:
        account = None
    stored = account["password_hash"] if account and account.get("active") else _DUMMY_HASH
    try:
        _hasher.verify(stored, password[:MAX_PASSWORD_CHARS])
    except (VerificationError, InvalidHashError):
        return None
    if account is None or stored is _DUMMY_HASH:
        return None
    if _hasher.check_needs_rehash(stored):
        database.set_agent_password_hash(account["name"], _hasher.hash(password))
    return account
