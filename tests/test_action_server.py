"""The real rasa-sdk action server, called over HTTP with the payloads Rasa itself builds.

Trackers are built with Rasa's own ``DialogueStateTracker`` and serialised the way Rasa's
``RemoteAction`` does (``current_state(EventVerbosity.ALL)`` plus ``domain.as_dict()``), so a
change in the tracker format or the domain breaks these tests, not a hand-written fixture.
"""

import functools
import hashlib
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
import rasa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.nlu.training_data.message import Message

from actions import actions, db
from components.attachment_resolver import AttachmentResolver
from bench import servers
from components.channels.media_store import MediaStore

# Rasa 3.6 warns about removed slot auto-fill for every domain that has slots.
pytestmark = pytest.mark.filterwarnings("ignore:Slot auto-fill has been removed")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def _domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('shop') / 'shop.sqlite3'}"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m rasa_sdk --actions actions`` on its own database; yields its base URL."""
    log = tmp_path_factory.mktemp("log") / "action_server.log"
    with servers.action_server(database_url, log, PYTHONUNBUFFERED="1") as service:
        yield service.wait_until_up(120)


@pytest.fixture(scope="module")
def shop(database_url: str) -> db.ShopDatabase:
    """The same database the server writes to, for checking rows."""
    return db.get_database(database_url)


def _user(text: str, intent: str, entities: Optional[List[Dict[str, Any]]] = None,
          metadata: Optional[Dict[str, Any]] = None, sentiment: Optional[str] = None,
          confidence: float = 0.88, ranking: Optional[List[Dict[str, Any]]] = None,
          **parse: Any) -> UserUttered:
    parse_data: Dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.95},
        "entities": entities or [],
        "intent_ranking": ranking or [{"name": intent, "confidence": 0.95}],
        **parse,
    }
    if sentiment:
        parse_data["sentiment"] = {"label": sentiment, "confidence": confidence,
                                   "scores": {sentiment: confidence}}
    return UserUttered(text, parse_data["intent"], parse_data["entities"], parse_data,
                       input_channel="rest", metadata=metadata or {})


def _order_entity(number: str, text: str) -> Dict[str, Any]:
    start = text.index(number)
    return {"entity": "order_number", "value": number, "start": start,
            "end": start + len(number), "extractor": "DIETClassifier"}


def _call(server: str, action: str, events: List[Event], sender: str = "customer-1") -> Dict:
    """POSTs exactly what Rasa's RemoteAction posts for this tracker."""
    tracker = DialogueStateTracker.from_events(sender, events, slots=_domain().slots)
    payload = {
        "next_action": action,
        "sender_id": sender,
        "tracker": tracker.current_state(EventVerbosity.ALL),
        "domain": _domain().as_dict(),
        "version": rasa.__version__,
    }
    response = requests.post(f"{server}/webhook", json=payload, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _texts(result: Dict) -> List[str]:
    return [r.get("text") for r in result["responses"]]


def _slots(result: Dict) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in result["events"] if e["event"] == "slot"}


def _start() -> List[Event]:
    return [ActionExecuted("action_session_start"), SessionStarted(),
            ActionExecuted("action_listen")]


def test_the_server_registers_exactly_the_custom_actions_of_the_domain(server: str) -> None:
    """Read from domain.yml, so an action added there (or to the server) cannot be left out."""
    custom = {name for name in _domain().user_actions if not name.startswith("utter_")}
    assert "action_read_payment_error" in custom  # the list is the domain's, not a copy
    registered = {a["name"] for a in requests.get(f"{server}/actions", timeout=5).json()}
    assert registered == custom


def _order_status_events(number: str, *verification: Event,
                         metadata: Optional[Dict[str, Any]] = None) -> List[Event]:
    """A customer asked for an order's status and the form completed."""
    text = f"where is my order {number}?"
    return _start() + [
        _user(text, "order_status", [_order_entity(number, text)], metadata=metadata),
        SlotSet("order_number", number), *verification,
        ActionExecuted("order_status_form"), ActiveLoop("order_status_form"), ActiveLoop(None),
    ]


def test_order_status_of_a_verified_order_reports_status_carrier_and_eta(server: str) -> None:
    events = _order_status_events("12345", SlotSet(actions.ORDER_CHECK_SLOT, actions.CHECK_PASSED),
                                  SlotSet(actions.VERIFIED_ORDERS_SLOT, ["12345"]))
    result = _call(server, "action_check_order_status", events)
    [reply] = _texts(result)
    assert reply.startswith("Order 12345 has shipped with DHL (tracking number JD014600003828). "
                            "Expected delivery: ")
    assert reply.endswith("Items: 2 x Ceramic coffee mug.")
    # The pass is used up; the verified order stays verified for the conversation.
    assert _slots(result) == {actions.ORDER_CHECK_SLOT: None}


def test_a_fresh_sender_gets_no_details_of_an_order_and_cannot_tell_if_it_exists(
    server: str,
) -> None:
    someone_elses = _texts(_call(server, "action_check_order_status",
                                 _order_status_events("67890"), sender="stranger"))
    unknown = _texts(_call(server, "action_check_order_status", _order_status_events("99999"),
                           sender="stranger"))
    assert someone_elses == unknown == [actions.NOT_VERIFIED_TEXT]
    assert "Royal Mail" not in someone_elses[0] and "RM123456785GB" not in someone_elses[0]


def test_an_authenticated_channels_customer_id_discloses_only_their_own_orders(
    server: str,
) -> None:
    alex = {actions.VERIFIED_CUSTOMER_KEY: "C-1001"}  # the owner of 12345, not of 67890
    own = _texts(_call(server, "action_check_order_status",
                       _order_status_events("12345", metadata=alex)))
    assert own[0].startswith("Order 12345 has shipped with DHL")
    other = _texts(_call(server, "action_check_order_status",
                         _order_status_events("67890", metadata=alex)))
    assert other == [actions.NOT_VERIFIED_TEXT]
    # The form skips the check for the customer's own order, not for another one.
    form = _start() + [_user("where is 12345", "order_status", metadata=alex),
                       SlotSet("order_number", "12345")]
    assert _slots(_call(server, "validate_order_status_form", form))["requested_slot"] is None


def _return_form_events(order_number: str) -> List[Event]:
    text = f"it's {order_number}"
    return _start() + [
        _user("I want to return something", "return_request"),
        ActionExecuted("return_form"), ActiveLoop("return_form"),
        SlotSet("requested_slot", "order_number"),
        BotUttered("Could you give me your 5-digit order number?"),
        ActionExecuted("action_listen"),
        _user(text, "inform", [_order_entity(order_number, text)]),
        # Rasa appends the extracted slot candidates before asking for validation.
        SlotSet("order_number", order_number),
    ]


def _check_answer(events: List[Event], answer: str, failures: int = 0) -> List[Event]:
    """``events`` plus the form asking for the ownership check and the customer answering."""
    earlier = [SlotSet(actions.VERIFICATION_FAILURES_SLOT, float(failures))] if failures else []
    return events + earlier + [
        ActionExecuted("return_form"), SlotSet("requested_slot", actions.ORDER_CHECK_SLOT),
        BotUttered("please tell me the email address or the postcode on that order"),
        ActionExecuted("action_listen"),
        _user(answer, "inform"), SlotSet(actions.ORDER_CHECK_SLOT, answer),
    ]


def test_return_form_takes_any_5_digit_number_without_saying_whether_it_exists(
    server: str,
) -> None:
    for number in ("12345", "99999"):
        result = _call(server, "validate_return_form", _return_form_events(number))
        assert _texts(result) == []
        # Rasa's form asks for the ownership check next (order_check is still empty).
        assert _slots(result) == {"order_number": number, actions.ORDER_CHECK_SLOT: None}


def test_the_postcode_or_email_on_the_order_verifies_it_ignoring_case_and_spaces(
    server: str,
) -> None:
    for answer in ("ox14aa", " OX1 4AA ", "Priya.Shah@Example.com"):
        result = _call(server, "validate_return_form",
                       _check_answer(_return_form_events("67890"), answer))
        assert _texts(result) == []
        slots = _slots(result)
        assert slots[actions.ORDER_CHECK_SLOT] == actions.CHECK_PASSED  # the answer is not kept
        assert slots[actions.VERIFIED_ORDERS_SLOT] == ["67890"]
        assert slots["requested_slot"] == "return_reason"


def test_a_wrong_answer_and_an_unknown_number_get_the_same_reply(server: str) -> None:
    wrong = _call(server, "validate_return_form",
                  _check_answer(_return_form_events("67890"), "NW1 6XE"))
    unknown = _call(server, "validate_return_form",
                    _check_answer(_return_form_events("99999"), "OX1 4AA"))
    for result in (wrong, unknown):
        assert _texts(result) == [actions.NOT_VERIFIED_TEXT]
        slots = _slots(result)
        assert slots["order_number"] is None and slots[actions.ORDER_CHECK_SLOT] is None
        assert slots[actions.VERIFICATION_FAILURES_SLOT] == 1
        assert actions.VERIFIED_ORDERS_SLOT not in slots


def test_three_wrong_answers_lock_disclosure_and_no_return_is_opened(
    server: str, shop: db.ShopDatabase,
) -> None:
    third = _call(server, "validate_return_form",
                  _check_answer(_return_form_events("67890"), "LS1 4AP", failures=2))
    assert _texts(third) == []  # the action after the form explains
    assert _slots(third)[actions.VERIFICATION_FAILURES_SLOT] == 3
    assert _slots(third)["requested_slot"] is None  # the form ends
    locked = [SlotSet(actions.VERIFICATION_FAILURES_SLOT, 3.0)]
    # Even the right answer, or a new number, is not asked for any more.
    again = _call(server, "validate_return_form", _return_form_events("67890") + locked)
    assert _slots(again)["requested_slot"] is None
    before = len(shop.returns_for_order("67890"))
    opened = _call(server, "action_open_return", _return_form_events("67890") + locked + [
        SlotSet("return_reason", "wrong size"), ActiveLoop(None)])
    assert _texts(opened) == [actions.LOCKED_TEXT]
    assert len(shop.returns_for_order("67890")) == before
    status = _call(server, "action_check_order_status", _order_status_events("67890", *locked))
    assert _texts(status) == [actions.LOCKED_TEXT]


def test_a_return_on_an_unverified_order_is_not_opened(
    server: str, shop: db.ShopDatabase,
) -> None:
    before = len(shop.returns_for_order("23456"))
    result = _call(server, "action_open_return", _return_form_events("23456") + [
        SlotSet("return_reason", "wrong size"), ActiveLoop(None)])
    assert _texts(result) == [actions.NOT_VERIFIED_TEXT]
    assert len(shop.returns_for_order("23456")) == before


def test_return_form_rejects_a_cancelled_order_once_verified(server: str) -> None:
    result = _call(server, "validate_return_form",
                   _check_answer(_return_form_events("56789"), "taylor.kim@example.com"))
    assert "Order 56789 was cancelled already" in _texts(result)[0]
    assert _slots(result)["order_number"] is None


def test_digits_in_the_answer_are_not_taken_as_a_new_order_number(server: str) -> None:
    """A 5-digit postcode (75001) that the entity extractor read as an order number."""
    events = _check_answer(_return_form_events("23456"), "75001")
    events.insert(-1, SlotSet("order_number", "75001"))
    result = _call(server, "validate_return_form", events)
    assert _slots(result)["order_number"] == "23456"
    assert _slots(result)[actions.VERIFIED_ORDERS_SLOT] == ["23456"]


def test_return_form_validates_the_reason(server: str) -> None:
    base = _return_form_events("12345")[:-2] + [
        SlotSet("order_number", "12345"), SlotSet("requested_slot", "return_reason"),
        ActionExecuted("action_listen"),
    ]
    too_short = _call(server, "validate_return_form",
                      base + [_user("eh", "inform"), SlotSet("return_reason", "eh")])
    assert _texts(too_short) == ["Could you tell me in a few words why you're returning it?"]
    assert _slots(too_short)["return_reason"] is None
    good = _call(server, "validate_return_form",
                 base + [_user("the zip is broken", "inform"),
                         SlotSet("return_reason", "the zip is broken")])
    assert _slots(good)["return_reason"] == "the zip is broken"
    # A canonical reason from the synonyms is kept; a fragment the extractor caught is not.
    canonical = _call(server, "validate_return_form",
                      base + [_user("it's too small", "inform"),
                              SlotSet("return_reason", "wrong size")])
    assert _slots(canonical)["return_reason"] == "wrong size"
    fragment = _call(server, "validate_return_form",
                     base + [_user("the t-shirt doesn't fit me", "inform"),
                             SlotSet("return_reason", "fit")])
    assert _slots(fragment)["return_reason"] == "the t-shirt doesn't fit me"


REFUSED = [{"type": "image", "path": "/etc/passwd"},
           {"type": "image", "url": "http://127.0.0.1:5305/evil.jpg"}]


def _resolved_user(text: str, intent: str, attachments: List[Dict[str, Any]],
                   upload_root: Path, **parse: Any) -> UserUttered:
    """The user event of a message whose client metadata named ``attachments``, with the parse
    output the project's real AttachmentResolver gives for them."""
    resolver = AttachmentResolver({**AttachmentResolver.get_default_config(),
                                   "upload_roots": [str(upload_root)]})
    [message] = resolver.process([Message(data={"text": text,
                                                "metadata": {"attachments": attachments}})])
    return _user(text, intent, metadata={"attachments": attachments},
                 media_references=message.get("media_references"),
                 attachment_errors=message.get("attachment_errors"), **parse)


def _verified_return(order_number: str, reason: str) -> List[Event]:
    return [ActionExecuted("return_form"), ActiveLoop("return_form"),
            SlotSet("order_number", order_number),
            SlotSet(actions.VERIFIED_ORDERS_SLOT, [order_number]),
            SlotSet("return_reason", reason), ActiveLoop(None), SlotSet("requested_slot", None)]


def test_open_return_records_the_accepted_photo_with_its_hash_and_type_as_evidence(
    server: str, shop: db.ShopDatabase, tmp_path: Path,
) -> None:
    # The reference exactly as the web chat and REST channels send an upload.
    jpeg = (PROJECT_ROOT / "data" / "media" / "images" / "damaged_parcel_torn.jpg").read_bytes()
    uploads = tmp_path / "uploads"
    photo = MediaStore(str(uploads)).save(jpeg, "image", None, "mug.jpg")
    events = _start() + [
        _resolved_user("my mug arrived broken", "damaged_item", [photo], uploads),
        BotUttered("Would you like me to start a return for it?"),
        ActionExecuted("action_listen"),
        _user("yes", "affirm"),
    ] + _verified_return("12345", "damaged")
    before = {r["id"] for r in shop.returns_for_order("12345")}
    result = _call(server, "action_open_return", events)
    [row] = [r for r in shop.returns_for_order("12345") if r["id"] not in before]
    assert (row["reason"], row["status"]) == ("damaged", "open")
    assert row["evidence"] == [{"type": "image", "sha256": hashlib.sha256(jpeg).hexdigest(),
                                "mime": "image/jpeg", "source": photo["path"]}]
    assert _texts(result) == [
        f"I've opened return {db.return_reference(row['id'])} for order 12345 (reason: damaged)."
        " I added the 1 attachment you sent as evidence. You'll get a prepaid return label by "
        "email within 24 hours."]
    assert _slots(result) == {"order_number": None, "return_reason": None, "damage_photo": None,
                             "awaiting_photo": False, actions.ORDER_CHECK_SLOT: None}

    # A second return in the same conversation does not reuse the first one's photo.
    second = events + [ActionExecuted("action_open_return"), ActionExecuted("action_listen"),
                       _user("I also want to return order 78901", "return_request"),
                       ] + _verified_return("78901", "wrong size")
    result = _call(server, "action_open_return", second)
    [row] = shop.returns_for_order("78901")
    assert row["evidence"] == []
    assert "for order 78901 (reason: wrong size). You'll get" in _texts(result)[0]


def test_refused_references_are_never_recorded_as_evidence(
    server: str, shop: db.ShopDatabase, tmp_path: Path,
) -> None:
    """The client named /etc/passwd and a URL to a private address; the pipeline refused both
    (the customer was told), so the return has no evidence."""
    customer = _resolved_user("my lamp arrived broken, see photos", "damaged_item", REFUSED,
                              tmp_path)
    assert customer.parse_data["media_references"] == []
    assert len(customer.parse_data["attachment_errors"]) == 2
    before = {r["id"] for r in shop.returns_for_order("34567")}
    result = _call(server, "action_open_return",
                   _start() + [customer] + _verified_return("34567", "damaged"))
    [row] = [r for r in shop.returns_for_order("34567") if r["id"] not in before]
    assert row["evidence"] == []
    assert "attachment" not in _texts(result)[0]
    # Nor in a hand-off ticket of the same conversation.
    _call(server, "action_handoff_to_human", _start() + [customer], sender="refused-files")
    [ticket] = shop.tickets_for_conversation("refused-files")
    assert ticket["attachments"] == []


def test_handoff_records_a_ticket_with_transcript_sentiment_and_attachments(
    server: str, shop: db.ShopDatabase,
) -> None:
    # A Slack file as SlackMediaInput sends it, and the reference the resolver made of it.
    slack_file = {"type": "image", "url": "https://files.slack.com/files-pri/T1-F1/error.png",
                  "mime": "image/png", "name": "error.png"}
    screenshot = {"type": "image", "sha256": "5d41402abc4b2a76b9719d911017c592",
                  "source": slack_file["url"], "mime": "image/png"}
    events = [
        _user("hi", "greet", sentiment="neutral"),  # previous session: not in the ticket
        BotUttered("Hi!"),
    ] + _start() + [
        _user("I was charged twice!!", "payment_problem", sentiment="negative",
              metadata={"attachments": [slack_file] + REFUSED},
              media_references=[screenshot]),
        BotUttered("I'm sorry your payment didn't go through."),
        ActionExecuted("action_listen"),
        _user("this is the worst service ever", "complaint", sentiment="negative"),
        BotUttered("I'm very sorry about your experience."),
        BotUttered("Would you like me to pass this to a member of our customer service team?"),
        ActionExecuted("action_listen"),
        _user("yes please", "affirm", sentiment="positive"),
    ]
    result = _call(server, "action_handoff_to_human", events, sender="angry-customer")
    [ticket] = shop.tickets_for_conversation("angry-customer")
    reference = db.ticket_reference(ticket["id"])
    assert _texts(result) == [
        f"I've passed our conversation to a member of our customer service team (ticket "
        f"{reference}). A human colleague will reply here as soon as possible, usually within "
        "a few hours, and can see everything we talked about, so you won't need to repeat "
        "yourself."]
    # The bot pauses in this conversation until an agent resumes it.
    assert result["events"] == [
        {"event": "slot", "timestamp": None, "name": "offer_human", "value": False},
        {"event": "pause", "timestamp": None}]
    assert ticket["status"] == "open"
    assert ticket["reason"] == "complaint"
    assert [(t["role"], t["text"]) for t in ticket["transcript"]] == [
        ("user", "I was charged twice!!"),
        ("bot", "I'm sorry your payment didn't go through."),
        ("user", "this is the worst service ever"),
        ("bot", "I'm very sorry about your experience."),
        ("bot", "Would you like me to pass this to a member of our customer service team?"),
        ("user", "yes please"),
    ]
    assert [s["label"] for s in ticket["sentiment_history"]] == ["negative", "negative", "positive"]
    assert ticket["attachments"] == [screenshot]


def test_unknown_action_is_reported(server: str) -> None:
    tracker = DialogueStateTracker.from_events("x", _start(), slots=_domain().slots)
    response = requests.post(f"{server}/webhook", json={
        "next_action": "action_does_not_exist", "sender_id": "x",
        "tracker": tracker.current_state(EventVerbosity.ALL), "domain": _domain().as_dict(),
    }, timeout=10)
    assert response.status_code == 404


def _offer(server: str, events: List[Event]) -> bool:
    result = _call(server, "action_offer_human_if_upset", events)
    assert _texts(result) == []  # the rules say utter_offer_human; the action only decides
    return _slots(result)["offer_human"]


def test_two_negative_messages_in_a_row_offer_a_human(server: str) -> None:
    late = _user("my parcel is late AGAIN", "delivery_delay", sentiment="negative", confidence=0.6)
    angry = _user("and now my card was charged twice", "payment_problem", sentiment="negative",
                  confidence=0.6)
    calm = _user("thanks, that helps", "thank", sentiment="positive")
    assert not _offer(server, _start() + [late])
    assert _offer(server, _start() + [late, BotUttered("sorry"), ActionExecuted("action_listen"),
                                      angry])
    assert not _offer(server, _start() + [late, calm, angry])
    # Negative turns of an earlier session do not count.
    assert not _offer(server, [late] + _start() + [angry])


def test_one_strongly_negative_complaint_offers_a_human(server: str) -> None:
    strong = _user("this is the worst service I have ever had", "complaint",
                   sentiment="negative", confidence=0.93)
    mild = _user("the box was a little dented", "complaint", sentiment="negative",
                 confidence=0.55)
    assert _offer(server, _start() + [strong])
    assert not _offer(server, _start() + [mild])


def test_clarifying_question_then_fallback_then_a_human(server: str) -> None:
    ranking = [{"name": "nlu_fallback", "confidence": 0.7},
               {"name": "refund_status", "confidence": 0.31},
               {"name": "return_request", "confidence": 0.29},
               {"name": "greet", "confidence": 0.1}]
    lost = _user("the thing with the money for the stuff", "nlu_fallback", ranking=ranking)
    first = _call(server, "action_clarify_or_fallback", _start() + [lost])
    [reply] = first["responses"]
    assert reply["text"] == "Sorry, I'm not sure I understood. Did you mean one of these?"
    assert reply["buttons"] == [
        {"title": "Where is my refund?", "payload": "/refund_status"},
        {"title": "I want to return something", "payload": "/return_request"},
        {"title": "Something else", "payload": "/out_of_scope"}]
    assert _slots(first) == {"offer_human": False}
    second = _call(server, "action_clarify_or_fallback", _start() + [lost, lost])
    assert _texts(second) == [None] and second["responses"][0]["response"] == "utter_default"
    third = _call(server, "action_clarify_or_fallback", _start() + [lost, lost, lost])
    assert third["responses"] == [] and _slots(third) == {"offer_human": True}
    # A confident out-of-scope message gets the out-of-scope lead, with in-scope buttons.
    oos = _user("what's the weather tomorrow", "out_of_scope", ranking=[
        {"name": "out_of_scope", "confidence": 0.9}, {"name": "order_status", "confidence": 0.05},
        {"name": "delivery_delay", "confidence": 0.03}])
    [reply] = _call(server, "action_clarify_or_fallback", _start() + [oos])["responses"]
    assert reply["text"].startswith("Sorry, that's not something I can help with.")
    assert [b["payload"] for b in reply["buttons"]] == [
        "/order_status", "/delivery_delay", "/out_of_scope"]


def test_thanks_after_a_resolved_issue_with_positive_sentiment_closes_politely(
    server: str,
) -> None:
    resolved = _start() + [_user("where is 12345", "order_status"),
                           ActionExecuted("action_check_order_status"),
                           ActionExecuted("action_listen")]
    happy = resolved + [_user("great, thanks so much!", "thank", sentiment="positive"),
                        SlotSet("sentiment", "positive")]
    assert _texts(_call(server, "action_respond_to_thanks", happy)) == [
        "I'm glad I could help! Thanks for shopping with us, and have a lovely day."]
    neutral = resolved + [_user("thanks", "thank", sentiment="neutral"),
                          SlotSet("sentiment", "neutral")]
    assert _call(server, "action_respond_to_thanks", neutral)["responses"][0]["response"] == (
        "utter_you_are_welcome")
    unresolved = _start() + [_user("thanks!", "thank", sentiment="positive"),
                             SlotSet("sentiment", "positive")]
    assert _call(server, "action_respond_to_thanks", unresolved)["responses"][0]["response"] == (
        "utter_you_are_welcome")


def test_attachment_errors_are_explained_after_the_message(server: str) -> None:
    errors = [{"source": "invoice.pdf", "code": "unsupported_type",
               "message": "invoice.pdf: I can't read that kind of file. Please send a photo."}]
    events = _start() + [_user("here is my invoice", "payment_problem", attachment_errors=errors)]
    result = _call(server, "action_validate_slot_mappings", events)
    assert _texts(result) == [
        "I couldn't use one of the files you sent. invoice.pdf: I can't read that kind of file. "
        "Please send a photo."]
    assert result["events"] == []
    clean = _call(server, "action_validate_slot_mappings", _start() + [_user("hi", "greet")])
    assert clean["responses"] == [] and clean["events"] == []


def _photo_step_events(reason: str, earlier: Optional[Dict[str, Any]] = None) -> List[Event]:
    """The return form right after the customer gave the reason."""
    return _start() + [
        _user("my lamp arrived broken", "damaged_item", media_references=[earlier] if earlier else []),
        ActionExecuted("utter_offer_return"), ActionExecuted("action_listen"),
        _user("yes", "affirm"),
        ActionExecuted("return_form"), ActiveLoop("return_form"),
        SlotSet("order_number", "34567"), SlotSet(actions.ORDER_CHECK_SLOT, actions.CHECK_PASSED),
        SlotSet(actions.VERIFIED_ORDERS_SLOT, ["34567"]), SlotSet("requested_slot", "return_reason"),
        ActionExecuted("action_listen"),
        _user(reason, "inform"), SlotSet("return_reason", reason),
    ]


def test_return_form_asks_for_a_photo_only_for_damaged_items(server: str) -> None:
    damaged = _call(server, "validate_return_form", _photo_step_events("it's damaged"))
    assert _slots(damaged)["requested_slot"] == "damage_photo"
    assert _slots(damaged)["awaiting_photo"] is True
    size = _call(server, "validate_return_form", _photo_step_events("wrong size"))
    assert _slots(size)["requested_slot"] is None  # verified, reason given: the form is done


def test_return_form_uses_a_photo_sent_earlier(server: str) -> None:
    photo = {"type": "image", "sha256": "ab12", "mime": "image/jpeg",
             "source": "data/media/images/damaged_box.jpg"}
    result = _call(server, "validate_return_form", _photo_step_events("it's damaged", photo))
    assert _slots(result)["damage_photo"] == "data/media/images/damaged_box.jpg"
    assert _slots(result)["requested_slot"] is None
    assert _texts(result) == ["Thanks, I've got the photo of the damage."]


def test_return_form_accepts_a_photo_sent_when_asked_or_none(server: str) -> None:
    asked = _photo_step_events("it's damaged") + [
        SlotSet("requested_slot", "damage_photo"), SlotSet("awaiting_photo", True),
        ActionExecuted("action_listen")]
    photo = {"type": "image", "sha256": "cd34", "mime": "image/jpeg",
             "source": "https://cdn.example.com/lamp.jpg"}
    sent = _call(server, "validate_return_form", asked + [_user(
        "here you go", "inform", metadata={"attachments": [{"type": "image", "url": photo["source"]}]},
        media_references=[photo])])
    assert _slots(sent)["damage_photo"] == "https://cdn.example.com/lamp.jpg"
    assert _slots(sent)["requested_slot"] is None
    # A file the pipeline refused is not a photo of the damage: the form still asks.
    refused = _call(server, "validate_return_form", asked + [_user(
        "here you go", "inform", metadata={"attachments": REFUSED}, media_references=[])])
    assert "damage_photo" not in _slots(refused)
    assert _slots(refused)["requested_slot"] == "damage_photo"
    # A photo the pipeline resolved from the text (rasa shell) counts as well.
    inline = _call(server, "validate_return_form", asked + [_user(
        "here", "inform", media_references=[{"type": "image", "sha256": "ab12",
                                              "source": "data/media/images/damaged_box.jpg"}])])
    assert _slots(inline)["damage_photo"] == "data/media/images/damaged_box.jpg"
    skipped = _call(server, "validate_return_form", asked + [_user("I don't have one", "deny")])
    assert _slots(skipped)["damage_photo"] == "none"
    assert _slots(skipped)["requested_slot"] is None
    assert _slots(skipped)["awaiting_photo"] is False
    assert _texts(skipped) == ["No problem, we'll go ahead without a photo."]
    unclear = _call(server, "validate_return_form", asked + [_user("hmm", "inform")])
    assert "damage_photo" not in _slots(unclear)
    assert _slots(unclear)["requested_slot"] == "damage_photo"
