"""The shop database behind the action server, on a real SQLite file, plus the pure helpers
the actions use to turn tracker events into a transcript, sentiment history and evidence."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from actions import db
from actions.actions import (
    attachments_of_events,
    handoff_reason,
    normalise_order_number,
    order_status_text,
    sentiment_history_of,
    transcript_of,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def database(tmp_path: Path) -> db.ShopDatabase:
    return db.get_database(f"sqlite:///{tmp_path / 'nested' / 'shop.sqlite3'}")


def _count(database: db.ShopDatabase, table: sa.Table) -> int:
    with database.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_first_start_creates_folder_tables_and_ten_demo_orders(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "shop.sqlite3"
    database = db.get_database(f"sqlite:///{path}")
    assert path.is_file()
    assert set(sa.inspect(database.engine).get_table_names()) == {"orders", "returns", "tickets"}
    assert _count(database, db.orders) == 10
    assert len(db.DEMO_ORDER_NUMBERS) == 10


def test_seeding_is_idempotent_across_restarts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.sqlite3'}"
    first = db.ShopDatabase(url)
    first.create_schema()
    assert first.seed_demo_orders() == 10
    assert first.seed_demo_orders() == 0
    # A second process (new engine on the same file) finds everything already there.
    second = db.ShopDatabase(url)
    second.create_schema()
    assert second.seed_demo_orders() == 0
    assert _count(second, db.orders) == 10


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
    database.close_ticket(ticket_id)
    assert database.get_ticket(ticket_id)["status"] == "closed"
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
    photo = {"type": "image", "path": "/media/mug.jpg", "size": 2048, "data": "ignored blob"}
    inline = {"type": "image", "url": "data:image/png;base64,iVBORw0KGgo="}
    events = [
        {"event": "action", "name": "action_listen"},
        _user("my mug is broken", "damaged_item", {"attachments": [photo, photo, inline]},
              sentiment={"label": "negative", "confidence": 0.91}),
        {"event": "bot", "text": "I'm really sorry your item arrived damaged."},
        _user("yes", "affirm", None,
              entities=[{"entity": "sentiment", "value": "neutral", "confidence_entity": 0.7}]),
        _user("see screenshot", "inform", {},
              media_references=[{"type": "image", "sha256": "ab", "source": "shot.png"}]),
    ]
    assert [t["role"] for t in transcript_of(events)] == ["user", "bot", "user", "user"]
    assert transcript_of(events)[0]["intent"] == "damaged_item"
    assert [(s["label"], s["confidence"]) for s in sentiment_history_of(events)] == [
        ("negative", 0.91), ("neutral", 0.7)]
    evidence = attachments_of_events(events)
    assert evidence[0] == {"type": "image", "path": "/media/mug.jpg", "size": 2048}
    assert evidence[1]["url"] == "data: URI (inline, not stored)" and len(evidence[1]["sha256"]) == 64
    assert evidence[2] == {"type": "image", "sha256": "ab", "source": "shot.png"}
    assert len(evidence) == 3
    assert handoff_reason(events) == "damaged_item"
    assert handoff_reason([_user("human please", "request_human")]) == "request_human"
    json.dumps([transcript_of(events), sentiment_history_of(events), evidence])


def test_action_package_imports_no_torch() -> None:
    """The action server must stay light: importing the actions must not pull in the models."""
    code = "import sys, actions.actions; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True, timeout=60)
