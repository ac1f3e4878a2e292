"""The shop database behind the action server, on a real SQLite file and (when
``TEST_POSTGRES_URL`` is set, e.g. by ``scripts/postgres``) on a real PostgreSQL server, plus the
pure helpers the actions use to turn tracker events into a transcript, sentiment history and
evidence."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from actions import db
from bench.servers import free_port, service_env
from components.channels.media_store import MediaStore
from components.media.attachment import Attachment
from actions.agent import RASA_TOKEN_ENV, AgentError, parse_ticket_id, resume_ticket
from actions.actions import (
    attachment_error_texts,
    attachments_of_events,
    customer_is_upset,
    not_understood_streak,
    reason_needs_photo,
    top_intents,
    handoff_reason,
    normalise_order_number,
    order_status_text,
    sentiment_history_of,
    transcript_of,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "").strip()
BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(
        not POSTGRES_URL, reason="set TEST_POSTGRES_URL (e.g. from scripts/postgres)")),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or the PostgreSQL test database with no tables."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'shop.sqlite3'}"
    engine = sa.create_engine(POSTGRES_URL, future=True)
    db.metadata.drop_all(engine)
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture()
def database(database_url: str) -> Iterator[db.ShopDatabase]:
    database = db.ShopDatabase(database_url)
    database.create_schema()
    database.seed_demo_orders()
    yield database
    database.engine.dispose()


def _count(database: db.ShopDatabase, table: sa.Table) -> int:
    with database.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_first_start_creates_folder_tables_and_ten_demo_orders(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "shop.sqlite3"
    database = db.get_database(f"sqlite:///{path}")
    assert path.is_file()
    assert set(sa.inspect(database.engine).get_table_names()) == {
        "orders", "returns", "tickets", "agent_accounts", "ticket_claims"}  # the last two: the agent workspace
    assert _count(database, db.orders) == 10
    assert len(db.DEMO_ORDER_NUMBERS) == 10


def test_seeding_is_idempotent_across_restarts(database_url: str) -> None:
    url = database_url
    first = db.ShopDatabase(url)
    first.create_schema()
    assert first.seed_demo_orders() == 10
    assert first.seed_demo_orders() == 0
    # A second process (new engine on the same file) finds everything already there.
    second = db.ShopDatabase(url)
    second.create_schema()
    assert second.seed_demo_orders() == 0
    assert _count(second, db.orders) == 10
    first.engine.dispose()
    second.engine.dispose()


def test_seeding_fills_in_missing_demo_orders_only(database: db.ShopDatabase) -> None:
    with database.engine.begin() as conn:
        conn.execute(db.orders.delete().where(db.orders.c.order_number == "54321"))
        conn.execute(db.orders.update().where(db.orders.c.order_number == "12345")
                     .values(status="delivered"))
    assert database.seed_demo_orders() == 1
    assert database.get_order("54321")["status"] == "out_for_delivery"
    assert database.get_order("12345")["status"] == "delivered"  # existing rows are not reset


def test_order_lookup_returns_status_carrier_eta_items_and_address(
    database: db.ShopDatabase,
) -> None:
    order = database.get_order("12345")
    assert order["status"] == "shipped"
    assert order["carrier"] == "DHL"
    assert order["eta"] == dt.date.today() + dt.timedelta(days=2)
    assert order["items"] == [{"sku": "MUG-CER-01", "name": "Ceramic coffee mug", "quantity": 2}]
    assert "London" in order["address"]
    assert database.get_order(" 45678 ")["status"] == "delayed"
    assert database.get_order("99999") is None
    assert not database.order_exists("00000")


def test_return_is_stored_with_evidence(database: db.ShopDatabase) -> None:
    evidence = [{"type": "image", "path": "data/media/broken_mug.jpg"},
                {"type": "image", "url": "https://example.com/p/2.png"}]
    return_id = database.create_return("12345", "  damaged ", evidence)
    stored = database.get_return(return_id)
    assert stored["order_number"] == "12345"
    assert stored["reason"] == "damaged"
    assert stored["evidence"] == evidence
    assert stored["status"] == "open"
    assert isinstance(stored["created_at"], dt.datetime)
    second = database.create_return("12345", "wrong size", [])
    assert [r["id"] for r in database.returns_for_order("12345")] == [return_id, second]
    assert db.return_reference(return_id) == f"RET-{return_id:05d}"


def test_return_for_unknown_order_or_without_reason_is_refused(
    database: db.ShopDatabase,
) -> None:
    with pytest.raises(ValueError, match="no order '99999'"):
        database.create_return("99999", "damaged", [])
    with pytest.raises(ValueError, match="without a reason"):
        database.create_return("12345", "  ", [])
    assert _count(database, db.returns) == 0


def test_ticket_keeps_transcript_sentiment_and_attachments(database: db.ShopDatabase) -> None:
    transcript = [{"role": "user", "text": "my mug is broken", "intent": "damaged_item"},
                  {"role": "bot", "text": "I'm really sorry"}]
    sentiment = [{"label": "negative", "confidence": 0.93, "text": "my mug is broken"}]
    attachments = [{"type": "image", "path": "/tmp/mug.jpg"}]
    ticket_id = database.create_ticket("conv-1", "damaged_item", transcript, sentiment, attachments)
    ticket = database.get_ticket(ticket_id)
    assert (ticket["sender_id"], ticket["reason"], ticket["status"]) == (
        "conv-1", "damaged_item", "open")
    assert ticket["transcript"] == transcript
    assert ticket["sentiment_history"] == sentiment
    assert ticket["attachments"] == attachments
    other = database.create_ticket("conv-2", "complaint", [], [], [])
    assert [t["id"] for t in database.list_tickets()] == [ticket_id, other]
    database.close_ticket(ticket_id)
    assert database.get_ticket(ticket_id)["status"] == "closed"
    assert [t["id"] for t in database.list_tickets()] == [other]
    assert [t["id"] for t in database.list_tickets(db.TICKET_CLOSED)] == [ticket_id]
    assert [t["id"] for t in database.list_tickets(None)] == [ticket_id, other]
    assert [t["id"] for t in database.tickets_for_conversation("conv-1")] == [ticket_id]
    with pytest.raises(ValueError, match="no ticket"):
        database.close_ticket(ticket_id + 100)
    with pytest.raises(ValueError, match="sender_id"):
        database.create_ticket("", "x", [], [], [])
    with pytest.raises(sa.exc.IntegrityError):
        with database.engine.begin() as conn:
            conn.execute(db.tickets.insert().values(
                sender_id="c", reason="r", transcript=[], sentiment_history=[], attachments=[],
                status="pending", created_at=dt.datetime.now()))


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, "postgresql://shop@db.internal/shop")
    assert db.default_database_url() == "postgresql://shop@db.internal/shop"
    monkeypatch.delenv(db.DATABASE_URL_ENV)
    assert db.default_database_url() == f"sqlite:///{PROJECT_ROOT / 'var' / 'shop.sqlite3'}"


@pytest.mark.parametrize("status, expected", [
    ("processing", "is being prepared in our warehouse"),
    ("shipped", "has shipped with DHL (tracking number JD1)"),
    ("out_for_delivery", "is out for delivery with DHL today"),
    ("delayed", "is delayed with DHL"),
    ("delivered", "was delivered by DHL on Friday 3 January 2025"),
    ("cancelled", "was cancelled"),
    ("returned", "was returned to us"),
])
def test_order_status_text_names_status_carrier_and_eta(status: str, expected: str) -> None:
    order = {"order_number": "12345", "status": status, "carrier": "DHL",
             "tracking_number": "JD1", "eta": dt.date(2025, 1, 3),
             "items": [{"sku": "M", "name": "Mug", "quantity": 2}]}
    text = order_status_text(order)
    assert text.startswith("Order 12345 ")
    assert expected in text
    assert text.endswith("Items: 2 x Mug.")
    if status in ("processing", "shipped", "delayed"):
        assert "Friday 3 January 2025" in text


@pytest.mark.parametrize("raw, expected", [
    ("12345", "12345"), (" #12345 ", "12345"), (["54321", "12345"], "12345"),
    ("1234", None), ("123456", None), ("abcde", None), (None, None), ([], None),
])
def test_order_numbers_are_normalised_to_five_digits(raw: object, expected: object) -> None:
    assert normalise_order_number(raw) == expected


def _user(text: str, intent: str, metadata: object = None, **parse: object) -> dict:
    return {"event": "user", "text": text, "timestamp": 1.0, "metadata": metadata,
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [],
                           **parse}}


def test_helpers_turn_events_into_transcript_sentiment_and_evidence() -> None:
    photo = {"type": "image", "path": "/media/mug.jpg", "mime": "image/jpeg", "data": "ignored blob"}
    accepted = {"type": "image", "sha256": "ab", "source": "shot.png", "mime": "image/png"}
    events = [
        {"event": "action", "name": "action_listen"},
        # The client named a file the pipeline did not accept: no media_references.
        _user("my mug is broken", "damaged_item", {"attachments": [photo]},
              sentiment={"label": "negative", "confidence": 0.91}, media_references=[]),
        {"event": "bot", "text": "I'm really sorry your item arrived damaged."},
        _user("yes", "affirm", None,
              entities=[{"entity": "sentiment", "value": "neutral", "confidence_entity": 0.7}]),
        _user("see screenshot", "inform", {"attachments": [{"type": "image", "path": "shot.png"}]},
              media_references=[{**accepted, "data": "ignored blob"}, accepted]),
    ]
    assert [t["role"] for t in transcript_of(events)] == ["user", "bot", "user", "user"]
    assert transcript_of(events)[0]["intent"] == "damaged_item"
    assert [(s["label"], s["confidence"]) for s in sentiment_history_of(events)] == [
        ("negative", 0.91), ("neutral", 0.7)]
    evidence = attachments_of_events(events)
    assert evidence == [accepted]  # only what the pipeline accepted, each once, no blob
    inline = _user("x", "inform", None, media_references=[
        {"type": "image", "source": "data:image/png;base64,iVBORw0KGgo="}])
    [stored] = attachments_of_events([inline])
    assert stored["source"] == "data: URI (inline, not stored)" and len(stored["sha256"]) == 64
    assert handoff_reason(events) == "damaged_item"
    assert handoff_reason([_user("human please", "request_human")]) == "request_human"
    json.dumps([transcript_of(events), sentiment_history_of(events), evidence])


def test_action_package_imports_no_torch() -> None:
    """The action server must stay light: importing the actions must not pull in the models."""
    code = "import sys, actions.actions; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True, timeout=60)


def _feeling(text: str, intent: str, label: str, confidence: float = 0.7) -> dict:
    return _user(text, intent, None, sentiment={"label": label, "confidence": confidence})


def test_upset_means_two_negatives_in_a_row_or_one_strongly_negative_complaint() -> None:
    late = _feeling("where is my parcel, it's late again", "delivery_delay", "negative")
    still = _feeling("this is ridiculous", "payment_problem", "negative")
    fine = _feeling("ok", "affirm", "neutral")
    assert not customer_is_upset([late])
    assert customer_is_upset([late, still])
    assert not customer_is_upset([late, fine, still])
    assert customer_is_upset([_feeling("worst shop ever", "complaint", "negative", 0.85)])
    assert not customer_is_upset([_feeling("box was a bit dented", "complaint", "negative", 0.6)])
    assert not customer_is_upset([_feeling("hate this", "payment_problem", "negative", 0.95)])
    # Once a human was offered, the count starts again.
    offered = {"event": "action", "name": "utter_offer_human"}
    assert not customer_is_upset([late, still, offered, still])
    assert customer_is_upset([late, still, offered, still, still])


def test_not_understood_streak_and_top_intents() -> None:
    lost = _user("blorp", "nlu_fallback")
    oos = _user("what's the weather", "out_of_scope")
    assert not_understood_streak([lost]) == 1
    assert not_understood_streak([lost, oos, lost]) == 3
    assert not_understood_streak([lost, _user("hi", "greet"), lost]) == 1
    ranking = [{"name": "nlu_fallback", "confidence": 0.9}, {"name": "greet", "confidence": 0.5},
               {"name": "return_request", "confidence": 0.2},
               {"name": "order_status", "confidence": 0.3}, {"name": "refund_status", "confidence": 0.1}]
    assert top_intents({"intent_ranking": ranking}) == ["order_status", "return_request"]
    assert top_intents({}) == []


@pytest.mark.parametrize("reason, needs", [
    ("damaged", True), ("defective", True), ("the handle is broken", True),
    ("it stopped working after a day", True), ("wrong size", False), ("no longer needed", False),
    (None, False),
])
def test_a_photo_is_asked_for_damaged_or_defective_items_only(reason: object, needs: bool) -> None:
    assert reason_needs_photo(reason) is needs


def test_evidence_keeps_every_field_the_channels_and_the_resolver_send(tmp_path: Path) -> None:
    """Built by the real producers: an upload saved by the channels' media store, and a
    resolved attachment's parse-output reference (``rasa shell``, ``/model/parse``)."""
    jpeg = (PROJECT_ROOT / "data" / "media" / "images" / "damaged_parcel_torn.jpg").read_bytes()
    uploaded = MediaStore(str(tmp_path / "uploads")).save(jpeg, "image", None, "mug.jpg")
    resolved = Attachment.from_bytes("image", jpeg, "image/jpeg", "data/media/mug.jpg").reference()
    assert uploaded["mime"] == resolved["mime"] == "image/jpeg"
    events = [_user("my mug", "damaged_item", {"attachments": [uploaded]}),
              _user("this one", "inform", {}, media_references=[resolved])]
    # The channel's reference is what the client asked for; only the resolver's is evidence.
    assert attachments_of_events(events) == [resolved]
    assert set(resolved) == {"type", "sha256", "source", "mime"}


def test_attachment_errors_become_customer_facing_lines() -> None:
    parse = {"attachment_errors": [
        {"source": "invoice.pdf", "code": "unsupported_type",
         "message": "invoice.pdf: I can't read that kind of file."},
        {"source": "x", "code": "broken"},  # no message: nothing to tell
    ]}
    assert attachment_error_texts(parse) == [
        "I couldn't use one of the files you sent. invoice.pdf: I can't read that kind of file."]
    assert attachment_error_texts({}) == []


def test_agent_cli_parses_ticket_ids_and_keeps_the_ticket_open_when_rasa_is_down(
    database: db.ShopDatabase,
) -> None:
    assert parse_ticket_id("TCK-00012") == 12 and parse_ticket_id(" 7 ") == 7
    with pytest.raises(AgentError, match="not a ticket id"):
        parse_ticket_id("ticket twelve")
    ticket_id = database.create_ticket("paused-customer", "complaint", [], [], [])
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(AgentError, match="Could not reach Rasa"):
        resume_ticket(ticket_id, database, dead_url, "secret")
    assert database.get_ticket(ticket_id)["status"] == "open"
    with pytest.raises(AgentError, match="no ticket"):
        resume_ticket(ticket_id + 99, database, dead_url, None)


def test_agent_cli_lists_open_tickets(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agent.sqlite3'}"
    database = db.get_database(url)
    ticket_id = database.create_ticket("conv-9", "damaged_item", [], [
        {"label": "negative", "confidence": 0.9}], [{"type": "image", "path": "x.jpg"}])
    env = service_env(**{db.DATABASE_URL_ENV: url, RASA_TOKEN_ENV: "agent-token"})
    result = subprocess.run([sys.executable, "-m", "actions.agent", "list"], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=60, check=True)
    assert db.ticket_reference(ticket_id) in result.stdout
    assert "conversation=conv-9" in result.stdout and "sentiment=negative" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "actions.agent", "resume", "TCK-00999"],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "There is no ticket TCK-00999" in bad.stderr


@pytest.mark.parametrize("command", [["list"], ["show", "TCK-00001"], ["resume", "TCK-00001"]])
def test_agent_cli_refuses_to_run_without_the_rasa_token(tmp_path: Path, command: list) -> None:
    url = f"sqlite:///{tmp_path / 'agent.sqlite3'}"
    db.get_database(url).create_ticket("conv-secret", "complaint", [
        {"role": "user", "text": "my address is 7 High Street"}], [], [])
    env = service_env(**{db.DATABASE_URL_ENV: url})
    env.pop(RASA_TOKEN_ENV, None)
    result = subprocess.run([sys.executable, "-m", "actions.agent", *command], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "RASA_TOKEN is not set" in result.stderr
    assert "var/rasa-token" in result.stderr and "scripts/serve" in result.stderr
    assert "conv-secret" not in result.stdout + result.stderr
    assert "High Street" not in result.stdout + result.stderr


def test_orders_know_their_owner_and_an_older_database_gets_the_columns(tmp_path: Path) -> None:
    """A shop database created before ownership existed: the columns are added on first use
    and the demo orders get their owners, other rows are left alone."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = sa.create_engine(url, future=True)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE orders (order_number VARCHAR(16) PRIMARY KEY, customer_name VARCHAR(120)"
            " NOT NULL, status VARCHAR(32) NOT NULL, carrier VARCHAR(64), tracking_number "
            "VARCHAR(64), eta DATE, items JSON NOT NULL, address TEXT NOT NULL, created_at "
            "DATETIME NOT NULL)"))
        conn.execute(sa.text(
            "INSERT INTO orders VALUES ('67890', 'Priya Shah', 'delivered', NULL, NULL, NULL, "
            "'[]', '7 High Street', '2026-01-01 00:00:00'), ('11111', 'Someone', 'shipped', NULL,"
            " NULL, NULL, '[]', 'Somewhere', '2026-01-01 00:00:00')"))
    engine.dispose()
    database = db.ShopDatabase(url)
    database.create_schema()
    database.seed_demo_orders()
    order = database.get_order("67890")
    assert (order["customer_id"], order["customer_email"], order["postcode"]) == (
        "C-1007", "priya.shah@example.com", "OX1 4AA")
    assert database.get_order("11111")["customer_email"] is None
    assert database.get_order("12345")["postcode"] == "NW1 6XE"
