"""Agent accounts, session cookies and ticket claims without a server: argon2 hashes (never the
password), sign-in checks, signed cookies that expire and cannot be altered, CSRF tokens bound to
their session, and claims that the database itself keeps to one agent, on SQLite and (with
TEST_POSTGRES_URL, see scripts/postgres) PostgreSQL."""

import concurrent.futures
import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from actions import db
from components.workspace import accounts
from components.workspace.sessions import SessionCodec

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[db.ShopDatabase]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    else:
        url = os.environ.get("TEST_POSTGRES_URL")
        if not url:
            pytest.skip("set TEST_POSTGRES_URL (e.g. from scripts/postgres)")
    shop = db.ShopDatabase(url)
    shop.create_schema()
    with shop.engine.begin() as conn:  # a clean slate on a shared PostgreSQL database
        conn.execute(db.ticket_claims.delete())
        conn.execute(db.agent_accounts.delete())
    yield shop
    shop.engine.dispose()


def test_passwords_are_stored_as_salted_argon2_hashes(database: db.ShopDatabase) -> None:
    accounts.create_agent(database, "Sam", PASSWORD, display_name="Sam Lee")
    accounts.create_agent(database, "kim", PASSWORD)
    sam, kim = database.get_agent("sam"), database.get_agent("kim")
    assert sam["display_name"] == "Sam Lee" and sam["role"] == db.AGENT_ROLE
    assert sam["password_hash"].startswith("$argon2id$") and PASSWORD not in sam["password_hash"]
    assert sam["password_hash"] != kim["password_hash"]  # same password, different salt
    assert accounts.authenticate(database, "sam", PASSWORD)["name"] == "sam"
    assert accounts.authenticate(database, "SAM ", PASSWORD)["name"] == "sam"
    assert accounts.authenticate(database, "sam", PASSWORD + "!") is None
    assert accounts.authenticate(database, "nobody", PASSWORD) is None
    assert accounts.authenticate(database, "sam", "x" * 10_000) is None
    assert accounts.authenticate(database, "../etc", PASSWORD) is None


def test_bad_names_roles_and_short_passwords_are_refused(database: db.ShopDatabase) -> None:
    for name, password, role in (("a", PASSWORD, "agent"), ("bad name", PASSWORD, "agent"),
                                 ("sam", "short", "agent"), ("sam", PASSWORD, "root")):
        with pytest.raises(accounts.AccountError):
            accounts.create_agent(database, name, password, role)
    assert database.get_agent("sam") is None


def test_add_user_again_resets_the_password_and_role(database: db.ShopDatabase) -> None:
    accounts.create_agent(database, "sam", PASSWORD)
    accounts.create_agent(database, "sam", "another long password", db.ADMIN_ROLE)
    assert accounts.authenticate(database, "sam", PASSWORD) is None
    assert accounts.authenticate(database, "sam", "another long password")["role"] == db.ADMIN_ROLE


def test_one_claim_per_ticket_even_when_two_agents_race(database: db.ShopDatabase) -> None:
    for name in ("alice", "bob"):
        accounts.create_agent(database, name, PASSWORD)
    sender = f"rest-{uuid.uuid4().hex[:8]}"
    ticket = database.create_ticket(sender, "complaint", [], [], [])
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        claims = list(pool.map(lambda name: database.claim_ticket(ticket, name), ("alice", "bob")))
    assert claims[0]["agent_name"] == claims[1]["agent_name"] in ("alice", "bob")
    with database.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.ticket_claims)
                            .where(db.ticket_claims.c.ticket_id == ticket)).scalar_one() == 1
    (row,) = database.tickets_with_claims(sender)
    assert row["agent_name"] == claims[0]["agent_name"] and row["outcome"] is None
    database.finish_ticket(ticket, db.OUTCOME_RESUMED)
    (row,) = database.tickets_with_claims(sender)
    assert row["status"] == db.TICKET_CLOSED and row["outcome"] == db.OUTCOME_RESUMED and row["closed_at"]
    assert ticket not in [t["id"] for t in database.queue()]
    with pytest.raises(ValueError):
        database.claim_ticket(ticket, "bob")  # closed


def test_session_cookies_expire_and_cannot_be_altered() -> None:
    codec = SessionCodec(b"secret", session_hours=1)
    cookie = codec.issue("sam", now=1_000_000)
    session = codec.read(cookie, now=1_000_010)
    assert session["name"] == "sam"
    assert codec.read(cookie, now=1_000_000 + 3601) is None
    body, _, signature = cookie.partition(".")
    assert codec.read(body + "." + "0" * len(signature), now=1_000_010) is None
    assert codec.read(cookie.replace(body, body[:-4] + "AAAA"), now=1_000_010) is None
    assert SessionCodec(b"other secret").read(cookie, now=1_000_010) is None
    for junk in (None, "", "x", ".", "a" * 5000, 42):
        assert codec.read(junk) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    codec = SessionCodec(b"secret")
    first, second = codec.read(codec.issue("sam")), codec.read(codec.issue("sam"))
    assert codec.check_csrf(first, codec.csrf_token(first))
    assert not codec.check_csrf(first, codec.csrf_token(second))
    assert not codec.check_csrf(first, None) and not codec.check_csrf(first, "")
    nonce = codec.login_nonce()
    assert codec.check_login_token(nonce, codec.login_token(nonce))
    assert not codec.check_login_token(codec.login_nonce(), codec.login_token(nonce))
