"""Whole conversations with the reference assistant, through the REST channel.

The session's trained model runs in a real `rasa run` with its real action server on SQLite
(fixtures in conftest.py), so these tests check what a customer would see: NLU (intent and
sentiment), rules, forms, custom actions, the database and the hand-off pause/resume together.
"""

import hashlib
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
ASK_CHECK = "please tell me the email address or the postcode on that order"
NOT_VERIFIED = "I couldn't verify that order."

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
    assert ASK_CHECK in first and "DPD" not in first
    assert _latest_sentiment(rasa_server, sender)["label"] == "negative"
    assert "Order 45678 is delayed with DPD" in reply_text(say(sender, "maria.rossi@example.com"))
    # The answer to the check sits between the first complaint and the next ones.
    second = reply_text(say(sender, "this is ridiculous, I have been waiting for weeks"))
    assert _latest_sentiment(rasa_server, sender)["label"] == "negative"
    if not second.endswith(OFFER_HUMAN):
        second = reply_text(say(sender, "honestly this is unacceptable, I'm really angry now"))
        assert _latest_sentiment(rasa_server, sender)["label"] == "negative"
    assert second.endswith(OFFER_HUMAN), second

    accepted = reply_text(say(sender, "yes please"))
    [ticket] = shop.tickets_for_conversation(sender)
    reference = db.ticket_reference(ticket["id"])
    assert f"(ticket {reference})" in accepted
    assert ticket["status"] == "open"
    labels = [s["label"] for s in ticket["sentiment_history"]]
    assert labels[0] == labels[-2] == "negative" and labels.count("negative") >= 2, labels
    assert ticket["transcript"][0]["text"].startswith("where is my order 45678")

    # Paused: the customer's messages are kept for the agent, the bot says nothing.
    assert say(sender, "hello? is anyone there?") == []
    tracker = _tracker(rasa_server, sender)
    assert tracker["paused"] is True
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert users[-1]["text"] == "hello? is anyone there?"
    assert tracker["events"][-1]["event"] != "bot"

    # The agent resumes the conversation from the command line.
    # This test server runs without --auth-token; the agent tool still refuses to start without
    # one (tests/test_actions_db.py), so it is given a token the server ignores.
    env = service_env(**{"RASA_URL": rasa_server, db.DATABASE_URL_ENV: shop_database_url,
                         "RASA_TOKEN": "unused-by-this-server"})
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
    assert ASK_CHECK in reply_text(say(sender, "hi, could you tell me where my order 12345 is?"))
    reply = reply_text(say(sender, "NW1 6XE"))
    assert reply.startswith("Order 12345 has shipped with DHL")
    assert OFFER_HUMAN not in reply


def test_positive_thanks_after_a_resolved_issue_closes_politely(say: Say, rasa_server: str) -> None:
    sender = _sender("happy")
    assert ASK_CHECK in reply_text(say(sender, "where is my order 12345?"))
    assert "Order 12345 has shipped" in reply_text(say(sender, "alex.morgan@example.com"))
    reply = reply_text(say(sender, "perfect, thank you so much, that's great!"))
    assert _latest_sentiment(rasa_server, sender)["label"] == "positive"
    assert reply == "I'm glad I could help! Thanks for shopping with us, and have a lovely day."


def test_return_of_a_damaged_item_asks_for_a_photo_and_keeps_it_as_evidence(
    say: Say, shop: db.ShopDatabase,
) -> None:
    sender = _sender("photo-later")
    assert "5-digit order number" in reply_text(say(sender, "I want to return an item"))
    # An unknown number is not revealed as unknown: it fails the check like a wrong answer.
    assert ASK_CHECK in reply_text(say(sender, "it's 99999"))
    unknown = reply_text(say(sender, "OX1 4AA"))
    assert NOT_VERIFIED in unknown and "5-digit order number" in unknown
    assert ASK_CHECK in reply_text(say(sender, "sorry, it's 67890"))
    assert "reason for the return" in reply_text(say(sender, "priya.shah@example.com"))
    assert ASK_PHOTO in reply_text(say(sender, "it arrived damaged"))
    before = {r["id"] for r in shop.returns_for_order("67890")}
    done = reply_text(say(sender, "here it is",
                          metadata={"attachments": [{"type": "image", "path": PHOTO}]}))
    assert "Thanks, I've got the photo of the damage." in done
    assert "for order 67890" in done and "I added the 1 attachment you sent as evidence" in done
    [row] = [r for r in shop.returns_for_order("67890") if r["id"] not in before]
    photo_hash = hashlib.sha256((ROOT / PHOTO).read_bytes()).hexdigest()
    assert [(e["source"], e["sha256"], e["mime"]) for e in row["evidence"]] == [
        (PHOTO, photo_hash, "image/jpeg")]


def test_return_of_a_damaged_item_goes_on_without_a_photo(say: Say, shop: db.ShopDatabase) -> None:
    sender = _sender("no-photo")
    assert ASK_CHECK in reply_text(say(sender, "I'd like to return order 23456"))
    assert "reason for the return" in reply_text(say(sender, "sam.patel@example.com"))
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
    assert ASK_CHECK in reply_text(say(sender, "78901"))
    reply = reply_text(say(sender, "lukas.berg@example.com"))
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
    assert any(ASK_CHECK in t for t in texts[1:]), texts
    assert reply_text(say(sender, "NW1 6XE")).startswith("Order 12345 has shipped")


def test_a_fresh_sender_gets_no_details_of_someone_elses_order(say: Say) -> None:
    sender = _sender("stranger")
    reply = reply_text(say(sender, "where is my order 67890"))
    assert ASK_CHECK in reply
    for detail in ("Royal Mail", "RM123456785GB", "Wool blanket", "delivered"):
        assert detail not in reply


def test_the_right_postcode_discloses_and_the_order_stays_verified(say: Say) -> None:
    sender = _sender("owner")
    assert ASK_CHECK in reply_text(say(sender, "where is my order 67890"))
    reply = reply_text(say(sender, "ox1 4aa"))
    assert "Order 67890 was delivered by Royal Mail" in reply and "Wool blanket" in reply
    # Asked again in the same conversation: no second check.
    assert "Order 67890 was delivered" in reply_text(say(sender, "where is order 67890 again?"))


def test_three_wrong_answers_lock_the_order_and_offer_a_colleague(say: Say) -> None:
    sender = _sender("guesser")
    assert ASK_CHECK in reply_text(say(sender, "where is my order 67890"))
    for guess in ("NW1 6XE", "LS1 4AP"):
        wrong = reply_text(say(sender, guess))
        assert NOT_VERIFIED in wrong and "Royal Mail" not in wrong
        assert ASK_CHECK in reply_text(say(sender, "67890"))
    locked = reply_text(say(sender, "M2 4WQ"))
    assert "I couldn't verify that order, so I can't share its details" in locked
    assert "talk to a person" in locked
    # Locked for the conversation: asking again discloses nothing and asks for nothing.
    again = reply_text(say(sender, "where is my order 67890"))
    assert "Royal Mail" not in again and ASK_CHECK not in again


def test_a_return_is_not_opened_on_an_unverified_order(say: Say, shop: db.ShopDatabase) -> None:
    sender = _sender("return-stranger")
    before = len(shop.returns_for_order("89012"))
    assert ASK_CHECK in reply_text(say(sender, "I want to return order 89012"))
    reply = reply_text(say(sender, "not.the.owner@example.com"))
    assert NOT_VERIFIED in reply and "returned already" not in reply
    assert len(shop.returns_for_order("89012")) == before


def test_files_the_pipeline_refused_are_not_recorded_as_evidence(
    say: Say, shop: db.ShopDatabase,
) -> None:
    sender = _sender("refused-evidence")
    assert ASK_CHECK in reply_text(say(sender, "I want to return order 12345"))
    assert "reason for the return" in reply_text(say(sender, "NW1 6XE"))
    assert ASK_PHOTO in reply_text(say(sender, "it arrived damaged"))
    refused = [{"type": "image", "path": "/etc/passwd"},
               {"type": "image", "url": "http://127.0.0.1:5305/evil.jpg"}]
    replies = [r.get("text", "") for r in say(sender, "here they are",
                                               metadata={"attachments": refused})]
    assert sum(t.startswith("I couldn't use one of the files you sent.") for t in replies) == 2
    assert "opened return" not in " ".join(replies)  # still waiting for a usable photo
    before = {r["id"] for r in shop.returns_for_order("12345")}
    done = reply_text(say(sender, "I don't have another one"))
    assert "opened return" in done and "attachment" not in done
    [row] = [r for r in shop.returns_for_order("12345") if r["id"] not in before]
    assert row["evidence"] == []
