"""End-to-end conversations with photos, screenshots and voice, through the REST channel.

The session's trained reference assistant runs under `rasa run` with its action server and a
real SQLite shop database; media are the generated fixtures under data/media/ (the voice clip is
a held-out one: the assistant never heard it in training).
"""

import json
import uuid
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import sqlalchemy as sa

from tests.conftest import reply_text

ROOT = Path(__file__).resolve().parents[1]
DAMAGED_PHOTO = "data/media/images/damaged_parcel_torn.jpg"
WRONG_ITEM_PHOTO = "data/media/images/wrong_item_cat.jpg"
PAYMENT_SCREENSHOT = "data/media/images/payment_error_e4021.png"
VOICE_ORDER_12345 = "data/media/heldout/voice/where_is_my_order_12345_slt.ogg"
UPLOADS = ROOT / "var" / "media" / "uploads"  # an AttachmentResolver upload root in config.yml

Say = Callable[..., List[Dict]]


def sender() -> str:
    return f"mm-{uuid.uuid4().hex[:12]}"


def image(path: str) -> Dict:
    return {"attachments": [{"type": "image", "path": path}]}


def parsed_intent(rasa_server: str, sender_id: str) -> Optional[str]:
    """The intent the assistant understood for the customer's latest message."""
    import requests

    tracker = requests.get(f"{rasa_server}/conversations/{sender_id}/tracker", timeout=30).json()
    return ((tracker.get("latest_message") or {}).get("intent") or {}).get("name")


def test_damaged_parcel_photo_opens_a_return_with_the_photo_as_evidence(
    say: Say, shop_database_url: str
) -> None:
    customer = sender()
    text = reply_text(say(customer, "my parcel arrived like this", image(DAMAGED_PHOTO))).lower()
    assert "damaged" in text and "return" in text, text
    assert "thank you for the photo" in text and "please send" not in text, text  # not asked again

    # Accept the return, then answer whatever the form asks until the return is opened.
    text = reply_text(say(customer, "yes please")).lower()
    for _ in range(5):
        if "opened return" in text:
            break
        if "postcode" in text:
            text = reply_text(say(customer, "NW1 6XE")).lower()
        elif "order number" in text:
            text = reply_text(say(customer, "12345")).lower()
        elif "reason" in text:
            text = reply_text(say(customer, "it arrived damaged")).lower()
        elif "photo" in text:
            text = reply_text(say(customer, "here it is", image(DAMAGED_PHOTO))).lower()
        else:
            pytest.fail(f"unexpected question in the return form: {text}")
    assert "opened return" in text and "12345" in text, text
    assert "evidence" in text, text

    engine = sa.create_engine(shop_database_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT order_number, reason, evidence FROM returns ORDER BY id DESC LIMIT 1")
        ).mappings().one()
    evidence = row["evidence"] if isinstance(row["evidence"], list) else json.loads(row["evidence"])
    assert row["order_number"] == "12345"
    # The resolver's reference of the photo the pipeline accepted (hash and type, not the request).
    assert any(item.get("source") == DAMAGED_PHOTO and item.get("type") == "image"
               and len(item.get("sha256") or "") == 64 for item in evidence), evidence


def test_payment_error_screenshot_is_answered_with_its_error_code(say: Say) -> None:
    text = reply_text(say(sender(), "what does this mean?", image(PAYMENT_SCREENSHOT)))
    assert "E-4021" in text, text
    assert "declined" in text.lower(), text


@pytest.mark.parametrize(
    "photo, intent, reply_word",
    [(DAMAGED_PHOTO, "damaged_item", "damaged"), (WRONG_ITEM_PHOTO, "wrong_item", "wrong item")],
)
def test_the_photo_decides_what_an_ambiguous_question_means(
    say: Say, rasa_server: str, photo: str, intent: str, reply_word: str
) -> None:
    customer = sender()
    text = reply_text(say(customer, "what is this?", image(photo))).lower()
    assert parsed_intent(rasa_server, customer) == intent
    assert reply_word in text, text


def test_voice_message_without_text_gets_the_order_status(say: Say, rasa_server: str) -> None:
    customer = sender()
    replies = say(customer, "", {"attachments": [{"type": "audio", "path": VOICE_ORDER_12345}]})
    assert "postcode" in reply_text(replies)  # the ownership check comes first
    assert parsed_intent(rasa_server, customer) == "order_status"
    text = reply_text(say(customer, "alex.morgan@example.com"))
    assert "Order 12345" in text, text


def test_corrupt_photo_is_explained_and_the_conversation_goes_on(say: Say, rasa_server: str) -> None:
    import requests

    UPLOADS.mkdir(parents=True, exist_ok=True)
    broken = UPLOADS / f"mm-corrupt-{uuid.uuid4().hex[:8]}.jpg"
    # A JPEG that stops after its header: the type is recognised, the picture cannot be decoded.
    broken.write_bytes((ROOT / DAMAGED_PHOTO).read_bytes()[:600])
    customer = sender()
    try:
        reference = str(broken.relative_to(ROOT))
        text = reply_text(say(customer, "my parcel arrived broken, see photo", image(reference))).lower()
    finally:
        broken.unlink()
    tracker = requests.get(f"{rasa_server}/conversations/{customer}/tracker", timeout=30).json()
    errors = tracker["latest_message"].get("attachment_errors") or []
    assert errors and errors[0]["source"].endswith(broken.name), tracker["latest_message"]
    # The customer is told that the picture could not be used (not just asked for a photo).
    assert any(w in text for w in ("photo", "image", "picture", "attachment", "file")), text
    assert any(w in text for w in ("couldn't", "could not", "can't", "cannot", "unable", "unreadable", "problem")), text
    # Their words are still understood and the conversation continues.
    assert parsed_intent(rasa_server, customer) == "damaged_item"
    text = reply_text(say(customer, "where is my order 12345?")).lower()
    assert "postcode" in text, text  # the ownership check of order 12345


def test_error_codes_are_found_as_ocr_reads_them() -> None:
    from actions.media_actions import explain_error_code, find_error_codes

    ocr = "Payment declined\nYour card was declined.\nError code E 4021\nOrder number 12345"
    assert find_error_codes(ocr) == ["E-4021"]
    assert find_error_codes("Code: e-3307 / Reference E\u20139999") == ["E-3307", "E-9999"]
    assert find_error_codes("order 12345, total 59.90") == []
    assert "expired" in explain_error_code("E-5103", from_screenshot=True)
    assert "don't know that code" in explain_error_code("E-9999", from_screenshot=True)
