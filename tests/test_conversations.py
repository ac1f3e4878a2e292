"""Whole conversations with the reference assistant, through the REST channel.

The session's trained model runs in a real `rasa run` with its real action server on SQLite
(fixtures in conftest.py), so these tests check what a customer would see: NLU (intent and
sentiment), rules, forms, custom actions, the database and the hand-off pause/resume together.
"""

import subprocess
import sys
import uuid
from typing import Any, Callable, Dict, List

import pytest
import requests

from actions import db
from bench.servers import ROOT, service_env
from tests.conftest import reply_text

PHOTO = "data/media/images/damaged_parcel_torn.jpg"
OFFER_HUMAN = "Would you like me to pass this to a member of our customer service team?"
ASK_PHOTO = "Could you send a photo of the damage?"

Say = Callable[..., List[Dict[str, Any]]]


def _sender(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def shop(shop_database_url: str) -> db.ShopDatabase:
    """The database the action server writes to."""
    return db.get_database(shop_database_url)


def _tracker(rasa_server: str, sender: str) -> Dict[str, Any]:
    response = requests.get(f"{rasa_server}/conversations/{sender}/tracker", timeout=30)
    response.raise_for_status()
    return response.json()


def _latest_sentiment(rasa_server: str, sender: str) -> Dict[str, Any]:
    users = [e for e in _tracker(rasa_server, sender)["events"] if e["event"] == "user"]
    return users[-1]["parse_data"]["sentiment"]


def test_upset_customer_is_offered_a_human_and_the_bot_pauses_until_an_agent_resumes(
    say: Say, rasa_server: str, shop_database_url: str, shop: db.ShopDatabase,
) -> None:
    sender = _sender("upset")
    first = reply_text(say(sender, "where is my order 45678?? it's late again and I'm fed up"))
    assert "Order 45678 is delayed with DPD" in first
    assert _latest_sentiment(rasa_server, sender)["label"] == "negative"
    second = reply_text(say(sender, "this is ridiculous, I have been waiting for weeks"))
    assert _latest_sentiment(rasa_server, sender)["label"] == "negative"
    assert second.endswith(OFFER_HUMAN), second

    accepted = reply_text(say(sender, "yes please"))
    [ticket] = shop.tickets_for_conversation(sender)
    reference = db.ticket_reference(ticket["id"])
    assert f"(ticket {reference})" in accepted
    assert ticket["status"] == "open"
    assert [s["label"] for s in ticket["sentiment_history"]][:2] == ["negative", "negative"]
    assert ticket["transcript"][0]["text"].startswith("where is my order 45678")

    # Paused: the customer's messages are kept for the agent, the bot says nothing.
    assert say(sender, "hello? is anyone there?") == []
    tracker = _tracker(rasa_server, sender)
    assert tracker["paused"] is True
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert users[-1]["text"] == "hello? is anyone there?"
    assert tracker["events"][-1]["event"] != "bot"

    # The agent resumes the conversation from the command line.
    env = service_env(**{"RASA_URL": rasa_server, db.DATABASE_URL_ENV: shop_database_url})
    listed = subprocess.run([sys.executable, "-m", "actions.agent", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    assert reference in listed.stdout and f"conversation={sender}" in listed.stdout
    resumed = subprocess.run([sys.executable, "-m", "actions.agent", "resume", reference],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Closed {reference}" in resumed.stdout
    assert shop.get_ticket(ticket["id"])["status"] == "closed"
    assert _tracker(rasa_server, sender)["paused"] is False
    assert "virtual assistant" in reply_text(say(sender, "hi"))


def test_one_strongly_negative_complaint_offers_a_human_and_declining_goes_on(
    say: Say, rasa_server: str,
) -> None:
    sender = _sender("complaint")
    reply = reply_text(say(sender, "your service is an absolute disgrace, worst shop ever"))
    sentiment = _latest_sentiment(rasa_server, sender)
    assert sentiment["label"] == "negative" and sentiment["confidence"] >= 0.8
    assert reply.startswith("I'm very sorry about your experience.")
    assert reply.endswith(OFFER_HUMAN)
    assert reply_text(say(sender, "no thanks")) == (
        "No problem. Is there anything else I can help you with?")
    assert _tracker(rasa_server, sender)["paused"] is False


def test_a_calm_question_gets_an_answer_and_no_hand_off_offer(say: Say) -> None:
    sender = _sender("calm")
    reply = reply_text(say(sender, "hi, could you tell me where my order 12345 is?"))
    assert reply.startswith("Order 12345 has shipped with DHL")
    assert OFFER_HUMAN not in reply


def test_positive_thanks_after_a_resolved_issue_closes_politely(say: Say, rasa_server: str) -> None:
    sender = _sender("happy")
    assert "Order 12345 has shipped" in reply_text(say(sender, "where is my order 12345?"))
    reply = reply_text(say(sender, "perfect, thank you so much, that's great!"))
    assert _latest_sentiment(rasa_server, sender)["label"] == "positive"
    assert reply == "I'm glad I could help! Thanks for shopping with us, and have a lovely day."


def test_return_of_a_damaged_item_asks_for_a_photo_and_keeps_it_as_evidence(
    say: Say, shop: db.ShopDatabase,
) -> None:
    sender = _sender("photo-later")
    assert "5-digit order number" in reply_text(say(sender, "I want to return an item"))
    unknown = reply_text(say(sender, "it's 99999"))
    assert "I couldn't find an order with the number 99999" in unknown
    assert "reason for the return" in reply_text(say(sender, "sorry, it's 67890"))
    assert ASK_PHOTO in reply_text(say(sender, "it arrived damaged"))
    before = {r["id"] for r in shop.returns_for_order("67890")}
    done = reply_text(say(sender, "here it is",
                          metadata={"attachments": [{"type": "image", "path": PHOTO}]}))
    assert "Thanks, I've got the photo of the damage." in done
    assert "for order 67890" in done and "I added the 1 attachment you sent as evidence" in done
    [row] = [r for r in shop.returns_for_order("67890") if r["id"] not in before]
    assert [e["path"] for e in row["evidence"]] == [PHOTO]


def test_return_of_a_damaged_item_goes_on_without_a_photo(say: Say, shop: db.ShopDatabase) -> None:
    sender = _sender("no-photo")
    say(sender, "I'd like to return order 23456")
    assert ASK_PHOTO in reply_text(say(sender, "it's defective"))
    before = {r["id"] for r in shop.returns_for_order("23456")}
    done = reply_text(say(sender, "I don't have one"))
    assert "No problem, we'll go ahead without a photo." in done
    assert "for order 23456" in done and "attachment" not in done
    [row] = [r for r in shop.returns_for_order("23456") if r["id"] not in before]
    assert row["evidence"] == []


def test_a_photo_sent_before_the_form_is_not_asked_for_again(
    say: Say, shop: db.ShopDatabase,
) -> None:
    sender = _sender("photo-first")
    first = reply_text(say(sender, "my parcel arrived like this, totally smashed",
                           metadata={"attachments": [{"type": "image", "path": PHOTO}]}))
    assert "start a return" in first
    say(sender, "yes")
    reply = reply_text(say(sender, "78901"))
    if "reason for the return" in reply:
        reply = reply_text(say(sender, "it's damaged"))
    assert ASK_PHOTO not in reply
    assert "for order 78901" in reply and "I added the 1 attachment" in reply


def test_not_understood_clarify_with_buttons_then_fallback_then_a_human(say: Say) -> None:
    sender = _sender("lost")
    [clarify] = say(sender, "what's the weather like on mars tomorrow")
    assert "Did you mean one of these?" in clarify["text"]
    payloads = [b["payload"] for b in clarify["buttons"]]
    assert len(payloads) == 3 and payloads[-1] == "/out_of_scope"
    assert all(p.startswith("/") and p != "/nlu_fallback" for p in payloads)
    second = reply_text(say(sender, "can you recommend a good pizza recipe"))
    assert "Did you mean" not in second and second.startswith("Sorry")
    assert reply_text(say(sender, "tell me a joke about penguins")) == OFFER_HUMAN
    assert "No problem" in reply_text(say(sender, "no"))
    # Clicking a button sends its payload: the intent is understood directly.
    assert "5-digit order number" in reply_text(say(sender, "/order_status"))


def test_a_broken_attachment_is_explained_and_the_conversation_goes_on(say: Say) -> None:
    sender = _sender("bad-file")
    missing = {"type": "image", "path": "data/media/images/photo_that_was_never_uploaded.jpg"}
    replies = say(sender, "where is my order 12345?", metadata={"attachments": [missing]})
    texts = [r.get("text", "") for r in replies]
    assert texts[0].startswith("I couldn't use one of the files you sent. "), texts
    assert len(texts[0]) > len("I couldn't use one of the files you sent. ") + 10
    assert any(t.startswith("Order 12345 has shipped") for t in texts[1:]), texts
