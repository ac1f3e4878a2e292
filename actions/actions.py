"""Custom actions of the reference shop assistant: order status, returns and hand-off to a human.

The action server must stay light: it imports only ``components.constants`` from the plugin (no
torch, no models). All database access goes through ``actions.db``.

Ownership: order details (status, carrier, tracking number, items) are disclosed, and a return is
opened, only for an order the customer has shown to be theirs in this conversation:

- a channel that authenticated the sender puts the shop's customer id in the message metadata
  under ``VERIFIED_CUSTOMER_KEY`` (``customer_id``); that customer's own orders need no check.
  Channels must never pass a client-supplied value under this key;
- otherwise the forms ask for the email address or postcode on the order (slot ``order_check``,
  compared ignoring case and spaces). A verified order number is remembered in the
  ``verified_orders`` slot for the rest of the conversation;
- a wrong answer and an unknown order number get the same reply ("I couldn't verify that
  order"), so order numbers cannot be enumerated; after ``MAX_VERIFICATION_FAILURES`` wrong
  answers in a conversation (slot ``verification_failures``) no unverified order is disclosed or
  changed any more, and the customer is offered a colleague.

Evidence (the attachments of returns and hand-off tickets) is taken only from the media the NLU
pipeline accepted (``media_references`` in the parse data), never from the client's metadata, so
a file the pipeline refused is never recorded.
"""

import hashlib
import re
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker, ValidationAction
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from components.constants import (
    ATTACHMENT_ERRORS, IMAGE_TAGS, MEDIA_REFERENCES, REFERENCE_KEYS, SENTIMENT, VERIFIED_CUSTOMER,
)
from components.media.errors import message_in
from actions import db
from actions.replies import (
    INTENT_TITLES, LANGUAGE_SLOT, intent_title, language_of, language_of_latest_message,
    order_status_text, say, term,
)

ORDER_NUMBER_PATTERN = re.compile(r"\d{5}")
# Message metadata key a channel sets, after authenticating the sender, to the shop's customer id.
VERIFIED_CUSTOMER_KEY = VERIFIED_CUSTOMER
ORDER_CHECK_SLOT = "order_check"
VERIFIED_ORDERS_SLOT = "verified_orders"
VERIFICATION_FAILURES_SLOT = "verification_failures"
# What order_check holds once the answer matched (the answer itself is not kept in a slot).
CHECK_PASSED = "passed"
MAX_VERIFICATION_FAILURES = 3
# The English refusals (their text, and the Chinese ones, live in actions/replies.py).
NOT_VERIFIED_TEXT = say("not_verified", "en")
LOCKED_TEXT = say("locked", "en")
# Intents that only steer the dialogue; the hand-off reason is the last intent that is not one.
STEERING_INTENTS = {
    "affirm", "deny", "greet", "goodbye", "thank", "inform", "request_human", "nlu_fallback",
}
MAX_REASON_LENGTH = 500
# A single negative message this sure of itself, on a complaint, is enough to offer a human.
STRONG_NEGATIVE_CONFIDENCE = 0.8
COMPLAINT_INTENTS = {"complaint"}
# Actions after which earlier frustration counts as handled (a human was offered or reached).
OFFER_ACTIONS = {"utter_offer_human", "action_handoff_to_human"}
# Intents a customer "did not get understood" with: clarify, then fall back, then offer a human.
NOT_UNDERSTOOD_INTENTS = {"nlu_fallback", "out_of_scope"}
# Return reasons that make a photo of the item worth asking for.
PHOTO_REASON_PATTERN = re.compile(
    r"damag|defect|broken|break|crack|scratch|dent|torn|ripped|smash|shatter|faulty|"
    r"doesn'?t work|not working|stopped working|"
    r"坏|碎|裂|破|损|划痕|凹|断|漏|用不了|不能用|质量问题|故障", re.IGNORECASE)
# What a customer says when they have no photo to send.
NO_PHOTO_PATTERN = re.compile(
    r"\b(no|don'?t|do not|didn'?t|haven'?t|have not|can'?t|cannot|without|skip|none)\b|"
    r"没有|没拍|没照片|不用|不要|跳过|算了|拍不了", re.IGNORECASE)
NO_PHOTO = "none"
# True while the latest customer message carries a readable photo (responses thank, not ask).
PHOTO_IN_MESSAGE_SLOT = "photo_in_message"
# After one of these the customer's issue counts as answered (thanks then closes politely).
RESOLVING_ACTIONS = {"action_check_order_status", "action_open_return", "action_handoff_to_human"}
# The values nlu.yml's synonyms map return reasons to; anything else is a fragment of the text.
CANONICAL_RETURN_REASONS = {
    "damaged", "wrong item", "wrong size", "defective", "no longer needed", "not as described",
    "arrived late",
}


def normalise_order_number(value: Any) -> Optional[str]:
    """The 5-digit order number in ``value`` (``#12345``, `` 12345 ``), or None."""
    if value is None:
        return None
    if isinstance(value, list):
        value = value[-1] if value else None
        if value is None:
            return None
    digits = re.sub(r"[\s#-]", "", str(value))
    return digits if ORDER_NUMBER_PATTERN.fullmatch(digits) else None


def _events_of_current_session(tracker: Tracker) -> List[Dict[str, Any]]:
    """The tracker's events after the latest session start (all of them if there is none)."""
    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        if events[index].get("event") == "session_started":
            return events[index + 1:]
    return events


def _events_after_action(events: List[Dict[str, Any]], action_name: str) -> List[Dict[str, Any]]:
    """The events after the latest run of ``action_name`` (all of them if it never ran)."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "action" and event.get("name") == action_name:
            return events[index + 1:]
    return events


def _small_reference(attachment: Dict[str, Any]) -> Dict[str, Any]:
    """Keeps the reference keys (``REFERENCE_KEYS``, shared with the channels and the resolver);
    an inline ``data:`` URI is replaced by its hash."""
    reference = {k: attachment[k] for k in REFERENCE_KEYS if attachment.get(k) is not None}
    for key in ("url", "path", "source"):
        value = reference.get(key)
        if isinstance(value, str) and value.startswith("data:"):
            reference[key] = "data: URI (inline, not stored)"
            reference.setdefault("sha256", hashlib.sha256(value.encode()).hexdigest())
    return reference


def attachments_of_events(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The media the NLU pipeline accepted in these events (``media_references``), each once, in
    order: the evidence of returns and tickets.

    The client's own ``attachments`` metadata is never used: it also names files the pipeline
    refused (a path outside the upload roots, a URL to a private address).
    """
    found: List[Dict[str, Any]] = []
    seen = set()
    for event in events:
        if event.get("event") != "user":
            continue
        for attachment in (event.get("parse_data") or {}).get(MEDIA_REFERENCES) or []:
            if not isinstance(attachment, dict) or not attachment.get("type"):
                continue
            reference = _small_reference(attachment)
            key = tuple(sorted((k, str(v)) for k, v in reference.items()))
            if key not in seen:
                seen.add(key)
                found.append(reference)
    return found


def _sentiment_of(parse_data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The classifier's sentiment from parse data, or from a ``sentiment`` entity."""
    sentiment = parse_data.get(SENTIMENT)
    if isinstance(sentiment, dict) and sentiment.get("label"):
        return {"label": sentiment["label"], "confidence": sentiment.get("confidence")}
    for entity in parse_data.get("entities") or []:
        if entity.get("entity") == SENTIMENT and entity.get("value"):
            return {"label": entity["value"], "confidence": entity.get("confidence_entity")}
    return None


def transcript_of(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """User and bot turns, in order, as a hand-off agent reads them."""
    transcript = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            transcript.append({
                "role": "user", "text": event.get("text") or "",
                "intent": intent.get("name"), "timestamp": event.get("timestamp"),
            })
        elif kind == "bot" and (event.get("text") or event.get("data")):
            transcript.append({
                "role": "bot", "text": event.get("text") or "", "timestamp": event.get("timestamp"),
            })
    return transcript


def sentiment_history_of(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The sentiment of every user message that carried one, oldest first."""
    history = []
    for event in events:
        if event.get("event") != "user":
            continue
        sentiment = _sentiment_of(event.get("parse_data") or {})
        if sentiment:
            history.append({**sentiment, "text": event.get("text") or "",
                            "timestamp": event.get("timestamp")})
    return history


def handoff_reason(events: Iterable[Dict[str, Any]]) -> str:
    """The last intent that says what the customer needs (complaint, damaged_item, ...)."""
    reason = "request_human"
    for event in events:
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if name and name not in STEERING_INTENTS:
                reason = name
    return reason


def user_events_since_offer(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """User events after the latest hand-off offer (or hand-off) in these events."""
    users: List[Dict[str, Any]] = []
    for event in events:
        if event.get("event") == "action" and event.get("name") in OFFER_ACTIONS:
            users = []
        elif event.get("event") == "user":
            users.append(event)
    return users


def _is_negative(event: Dict[str, Any], min_confidence: float = 0.0) -> bool:
    sentiment = _sentiment_of(event.get("parse_data") or {})
    if not sentiment or sentiment["label"] != "negative":
        return False
    return float(sentiment.get("confidence") or 0.0) >= min_confidence


def customer_is_upset(events: Iterable[Dict[str, Any]]) -> bool:
    """Two negative messages in a row, or one strongly negative complaint, since the last offer."""
    users = user_events_since_offer(events)
    if len(users) >= 2 and _is_negative(users[-1]) and _is_negative(users[-2]):
        return True
    if users:
        intent = ((users[-1].get("parse_data") or {}).get("intent") or {}).get("name")
        return intent in COMPLAINT_INTENTS and _is_negative(users[-1], STRONG_NEGATIVE_CONFIDENCE)
    return False


def not_understood_streak(events: Iterable[Dict[str, Any]]) -> int:
    """How many of the latest user messages in a row were out of scope or not understood."""
    streak = 0
    for event in events:
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        streak = streak + 1 if intent in NOT_UNDERSTOOD_INTENTS else 0
    return streak


def top_intents(parse_data: Dict[str, Any], count: int = 2) -> List[str]:
    """The ``count`` best-ranked intents the clarifying question can offer as buttons."""
    ranking = parse_data.get("intent_ranking") or []
    names = [r.get("name") for r in sorted(ranking, key=lambda r: -(r.get("confidence") or 0.0))]
    return [n for n in names if n in INTENT_TITLES][:count]


def image_references(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The image attachments among the references the customer sent in these events."""
    return [a for a in attachments_of_events(events) if a.get("type") == "image"]


def reason_needs_photo(reason: Any) -> bool:
    """True for damaged or defective items, where a photo is worth asking for."""
    return bool(reason) and bool(PHOTO_REASON_PATTERN.search(str(reason)))


def is_empty_message(parse_data: Dict[str, Any]) -> bool:
    """No words and no usable media: an empty message, or only files the pipeline refused."""
    return not (parse_data.get("text") or "").strip() and not parse_data.get(MEDIA_REFERENCES)


def attachment_error_texts(parse_data: Dict[str, Any], language: str = "en") -> List[str]:
    """One customer-facing line per attachment problem the NLU pipeline reported, in ``language``
    (the catalogue writes each in every language the assistant speaks)."""
    texts = []
    for error in parse_data.get(ATTACHMENT_ERRORS) or []:
        message = message_in(error, language)
        if message:
            texts.append(say("file_unusable", language, message=message))
    return texts



def normalise_answer(value: Any) -> str:
    """An email address or postcode as compared: lower case, no spaces."""
    return "".join(str(value or "").split()).lower()


def answer_matches(order: Dict[str, Any], answer: Any) -> bool:
    """True when ``answer`` is the email address or the postcode on the order."""
    given = normalise_answer(answer)
    return bool(given) and any(
        given == normalise_answer(order.get(field))
        for field in ("customer_email", "postcode") if order.get(field)
    )


def verified_customer_id(tracker: Tracker) -> Optional[str]:
    """The customer id an authenticated channel put in the latest message's metadata."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            metadata = event.get("metadata")
            value = metadata.get(VERIFIED_CUSTOMER_KEY) if isinstance(metadata, dict) else None
            return str(value) if value else None
    return None


def verified_orders(tracker: Tracker) -> List[str]:
    return [str(n) for n in tracker.get_slot(VERIFIED_ORDERS_SLOT) or []]


def verification_failures(tracker: Tracker) -> int:
    return int(tracker.get_slot(VERIFICATION_FAILURES_SLOT) or 0)


def verification_locked(tracker: Tracker) -> bool:
    """Too many wrong answers in this conversation: no unverified order is disclosed any more."""
    return verification_failures(tracker) >= MAX_VERIFICATION_FAILURES


def order_is_verified(tracker: Tracker, number: Optional[str]) -> bool:
    """The customer proved in this conversation that the order is theirs, or an authenticated
    channel says they own it."""
    if not number:
        return False
    if number in verified_orders(tracker):
        return True
    customer = verified_customer_id(tracker)
    if customer:
        order = db.get_database().get_order(number)
        return bool(order) and order.get("customer_id") == customer
    return False


def _slot_before_latest_message(tracker: Tracker, name: str) -> Any:
    """The slot's value before the latest customer message set anything."""
    events = list(tracker.events)
    latest_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    value = None
    for event in events[:max(latest_user, 0)]:
        if event.get("event") == "slot" and event.get("name") == name:
            value = event.get("value")
    return value


class OrderOwnershipCheck:
    """Form validation shared by the order status and return forms: the form asks for the email
    address or postcode on the order (``order_check``) unless the order is verified already."""

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        number = normalise_order_number(tracker.get_slot("order_number"))
        if order_is_verified(tracker, number):
            return [slot for slot in domain_slots if slot != ORDER_CHECK_SLOT]
        if verification_locked(tracker):
            return []  # the form ends; the action after it explains and offers a colleague
        return domain_slots

    def validate_order_number(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") == ORDER_CHECK_SLOT:
            # Digits in the answer to the check (a 5-digit postcode) are not a new order number.
            return {"order_number": _slot_before_latest_message(tracker, "order_number")}
        number = normalise_order_number(slot_value)
        if number is None:
            dispatcher.utter_message(text=say("bad_order_number", language_of(tracker)))
            return {"order_number": None}
        # A new order needs its own check: an earlier pass was for another order.
        return {"order_number": number, ORDER_CHECK_SLOT: None}

    def validate_order_check(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        number = normalise_order_number(tracker.get_slot("order_number"))
        order = db.get_database().get_order(number) if number else None
        if order and answer_matches(order, slot_value):
            return {ORDER_CHECK_SLOT: CHECK_PASSED,
                    VERIFIED_ORDERS_SLOT: verified_orders(tracker) + [number]}
        # Unknown number or wrong answer: the same reply, so numbers cannot be enumerated.
        failures = verification_failures(tracker) + 1
        if failures < MAX_VERIFICATION_FAILURES:
            dispatcher.utter_message(text=say("not_verified", language_of(tracker)))
        return {ORDER_CHECK_SLOT: None, "order_number": None,
                VERIFICATION_FAILURES_SLOT: float(failures)}


def ownership_refusal(tracker: Tracker) -> str:
    """What an action says instead of disclosing or changing an unverified order."""
    return say("locked" if verification_locked(tracker) else "not_verified", language_of(tracker))


class ActionCheckOrderStatus(Action):
    """Tells the customer where their order is (status, carrier, ETA), if it is verified theirs."""

    def name(self) -> Text:
        return "action_check_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        raw = tracker.get_slot("order_number")
        number = normalise_order_number(raw)
        order = db.get_database().get_order(number) if number else None
        if order is not None and order_is_verified(tracker, number):
            dispatcher.utter_message(text=order_status_text(order, language_of(tracker)))
        elif number is None and not verification_locked(tracker):
            dispatcher.utter_message(text=say("need_order_number", language_of(tracker)))
        else:
            dispatcher.utter_message(text=ownership_refusal(tracker))
        events: List[EventType] = [SlotSet(ORDER_CHECK_SLOT, None)]
        if number != raw:
            events.append(SlotSet("order_number", number))
        return events


class ValidateOrderStatusForm(OrderOwnershipCheck, FormValidationAction):
    """Asks for the email address or postcode on the order unless it is verified already."""

    def name(self) -> Text:
        return "validate_order_status_form"


class ValidateReturnForm(OrderOwnershipCheck, FormValidationAction):
    """Accepts only verified orders that can still be returned, and a real reason."""

    def name(self) -> Text:
        return "validate_return_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Validates as usual, then flags whether the form now waits for the damage photo."""
        events = await super().run(dispatcher, tracker, domain)
        requested = [e.get("value") for e in events
                     if e.get("event") == "slot" and e.get("name") == "requested_slot"]
        if requested:
            awaiting = requested[-1] == "damage_photo"
            if awaiting != bool(tracker.get_slot("awaiting_photo")):
                events.append(SlotSet("awaiting_photo", awaiting))
        return events

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        """The ownership check's slots, plus a photo of the damage when the reason calls for one."""
        slots = await super().required_slots(domain_slots, dispatcher, tracker, domain)
        if slots and reason_needs_photo(tracker.get_slot("return_reason")):
            return slots + ["damage_photo"]
        return slots

    async def extract_damage_photo(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict,
    ) -> Dict[Text, Any]:
        """A photo sent during this return (earlier or just now), or "none" when skipped."""
        if tracker.get_slot("damage_photo"):
            return {}
        session = _events_of_current_session(tracker)
        photos = image_references(_events_after_action(session, "action_open_return"))
        if photos:
            photo = photos[-1]
            return {"damage_photo": str(photo.get("path") or photo.get("url")
                                        or photo.get("source") or photo.get("sha256"))}
        if tracker.get_slot("requested_slot") != "damage_photo":
            return {}
        latest = tracker.latest_message or {}
        intent = (latest.get("intent") or {}).get("name")
        if intent == "deny" or NO_PHOTO_PATTERN.search(str(latest.get("text") or "")):
            return {"damage_photo": NO_PHOTO}
        return {}

    def validate_damage_photo(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        if slot_value == NO_PHOTO:
            dispatcher.utter_message(text=say("no_photo_ok", language_of(tracker)))
        elif slot_value:
            dispatcher.utter_message(text=say("photo_received", language_of(tracker)))
        return {"damage_photo": slot_value}

    def validate_order_number(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        result = super().validate_order_number(slot_value, dispatcher, tracker, domain)
        number = result.get("order_number")
        if number and order_is_verified(tracker, number):
            return {**result, **self._returnable(number, dispatcher, language_of(tracker))}
        return result

    def validate_order_check(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        result = super().validate_order_check(slot_value, dispatcher, tracker, domain)
        if result.get(ORDER_CHECK_SLOT) == CHECK_PASSED:
            number = normalise_order_number(tracker.get_slot("order_number"))
            return {**result, **self._returnable(number, dispatcher, language_of(tracker))}
        return result

    @staticmethod
    def _returnable(
        number: Optional[str], dispatcher: CollectingDispatcher, language: str
    ) -> Dict[Text, Any]:
        """Clears the order (with a reason) when a verified order cannot be returned any more."""
        order = db.get_database().get_order(number) if number else None
        if order is not None and order["status"] in ("cancelled", "returned"):
            dispatcher.utter_message(text=say(
                "not_returnable", language, number=number,
                status=term(order["status"], language)))
            return {"order_number": None, ORDER_CHECK_SLOT: None}
        return {}

    def validate_return_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        if isinstance(slot_value, list):
            slot_value = slot_value[-1] if slot_value else None
        reason = str(slot_value or "").strip()
        latest_text = str(tracker.latest_message.get("text") or "").strip()
        if (
            reason
            and reason.lower() not in CANONICAL_RETURN_REASONS
            and reason.lower() in latest_text.lower()
        ):
            # The entity extractor caught a fragment ("fit" of "it doesn't fit me"): the
            # customer's own sentence tells the warehouse more.
            reason = latest_text
        if len(reason) < (1 if language_of(tracker) == "zh" else 3):
            dispatcher.utter_message(text=say("ask_reason_again", language_of(tracker)))
            return {"return_reason": None}
        return {"return_reason": reason[:MAX_REASON_LENGTH]}


class ActionOpenReturn(Action):
    """Opens the return on a verified order, with the media the pipeline accepted as evidence."""

    def name(self) -> Text:
        return "action_open_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        number = normalise_order_number(tracker.get_slot("order_number"))
        reason = tracker.get_slot("return_reason")
        if verification_locked(tracker) and not order_is_verified(tracker, number):
            dispatcher.utter_message(text=say("locked", language_of(tracker)))
            return [SlotSet("order_number", None), SlotSet(ORDER_CHECK_SLOT, None)]
        if number is None or not reason:
            dispatcher.utter_message(text=say("need_number_and_reason", language_of(tracker)))
            return []
        cleared = [SlotSet("order_number", None), SlotSet("return_reason", None),
                   SlotSet("damage_photo", None), SlotSet("awaiting_photo", False),
                   SlotSet(ORDER_CHECK_SLOT, None)]
        if not order_is_verified(tracker, number):
            dispatcher.utter_message(text=ownership_refusal(tracker))
            return cleared
        session = _events_of_current_session(tracker)
        evidence = attachments_of_events(_events_after_action(session, self.name()))
        return_id = db.get_database().create_return(number, str(reason), evidence)
        language = language_of(tracker)
        evidence_text = ""
        if evidence:
            count = len(evidence)
            evidence_text = say("evidence_one" if count == 1 else "evidence_many", language,
                                count=count)
        dispatcher.utter_message(text=say(
            "return_opened", language, reference=db.return_reference(return_id), number=number,
            reason=term(reason, language), evidence=evidence_text))
        return cleared


class ActionHandoffToHuman(Action):
    """Records a ticket with the conversation so far and tells the customer a person will reply."""

    def name(self) -> Text:
        return "action_handoff_to_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events = _events_of_current_session(tracker)
        ticket_id = db.get_database().create_ticket(
            sender_id=tracker.sender_id,
            reason=handoff_reason(events),
            transcript=transcript_of(events),
            sentiment_history=sentiment_history_of(events),
            attachments=attachments_of_events(events),
        )
        dispatcher.utter_message(text=say(
            "handoff", language_of(tracker), reference=db.ticket_reference(ticket_id)))
        # The bot stays silent in this conversation until an agent resumes it
        # (`python -m actions.agent resume TICKET`).
        return [SlotSet("offer_human", False), ConversationPaused()]


class ActionOfferHumanIfUpset(Action):
    """Runs after an answer: sets ``offer_human`` when the customer's sentiment says so.

    Rules turn ``offer_human: true`` into ``utter_offer_human``. The tracker's recent user
    events are read directly (``parse_data.sentiment``), which counts "two in a row" reliably
    where stories could not.
    """

    def name(self) -> Text:
        return "action_offer_human_if_upset"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        return [SlotSet("offer_human", customer_is_upset(_events_of_current_session(tracker)))]


class ActionClarifyOrFallback(Action):
    """Not understood: first a clarifying question with the top two intents as buttons, then
    the fallback message, then (``offer_human: true``) the offer of a person."""

    def name(self) -> Text:
        return "action_clarify_or_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        streak = not_understood_streak(_events_of_current_session(tracker))
        latest = tracker.latest_message or {}
        intent = (latest.get("intent") or {}).get("name")
        if is_empty_message(latest):
            # Nothing to understand. A refused file was already explained (validate_slot_mappings
            # says what was wrong with it); otherwise ask for words.
            if not attachment_error_texts(latest, language_of(tracker)):
                dispatcher.utter_message(response="utter_ask_to_type")
            return [SlotSet("offer_human", streak >= 3)]
        if streak >= 3:
            return [SlotSet("offer_human", True)]
        choices = top_intents(latest) if streak <= 1 else []
        if choices:
            language = language_of(tracker)
            lead = say("clarify_out_of_scope" if intent == "out_of_scope" else "clarify_unsure",
                       language)
            buttons = [{"title": intent_title(n, language), "payload": f"/{n}"} for n in choices]
            buttons.append({"title": say("something_else", language), "payload": "/out_of_scope"})
            dispatcher.utter_message(text=say("did_you_mean", language, lead=lead),
                                     buttons=buttons)
        elif intent == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
        else:
            dispatcher.utter_message(response="utter_default")
        return [SlotSet("offer_human", False)]


class ActionRespondToThanks(Action):
    """Thanks after a resolved issue with positive sentiment: close politely; else offer more."""

    def name(self) -> Text:
        return "action_respond_to_thanks"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events = _events_of_current_session(tracker)
        resolved = any(e.get("event") == "action" and e.get("name") in RESOLVING_ACTIONS
                       for e in events)
        if resolved and tracker.get_slot(SENTIMENT) == "positive":
            dispatcher.utter_message(text=say("glad_to_help", language_of(tracker)))
        else:
            dispatcher.utter_message(response="utter_you_are_welcome")
        return []


class ValidateSlotMappings(ValidationAction):
    """Runs after every customer message (Rasa's ``action_extract_slots`` calls it): tells the
    customer what was wrong with an attachment the pipeline could not use; the conversation
    then goes on as usual."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        latest = tracker.latest_message or {}
        # The customer's language follows their latest words (a photo alone keeps it).
        language = language_of_latest_message(tracker)
        if language != tracker.get_slot(LANGUAGE_SLOT):
            events.append(SlotSet(LANGUAGE_SLOT, language))
        for text in attachment_error_texts(latest, language):
            dispatcher.utter_message(text=text)
        has_photo = bool(latest.get(IMAGE_TAGS))
        if has_photo != bool(tracker.get_slot(PHOTO_IN_MESSAGE_SLOT)):
            events.append(SlotSet(PHOTO_IN_MESSAGE_SLOT, has_photo))
        return events
