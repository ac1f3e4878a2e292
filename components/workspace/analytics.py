"""Support analytics computed from the SQL tracker store's ``events`` table (SQLite or PostgreSQL)
and the shop database's tickets: no second copy of conversations.

Definitions (docs/workspace.md repeats them; tests/test_workspace_api.py checks them against
direct SQL counts):

- a conversation counts on a day when its customer wrote at least one message that day (UTC);
  its channel is the ``input_channel`` of its first message in the range;
- messages are ``user`` events; a negative turn is one whose ``parse_data.sentiment.label`` is
  ``negative``; the share is negative turns / messages, per day and per hour of day;
- containment: conversations in the range without ``action_handoff_to_human`` / conversations;
- hand-off (fallback) intents: the intent of the customer's last message before each
  ``action_handoff_to_human`` (before each fallback action, ``FALLBACK_ACTIONS``);
- media use: messages with an accepted image (photo), an accepted audio file (voice), neither
  (text); a message with both counts for both; attachment errors by ``code``;
- wait for a human: a claimed ticket's ``claimed_at - created_at``, averaged over tickets opened
  in the range.
"""

import csv
import datetime as dt
import io
import json
from collections import Counter, defaultdict
from typing import Any, Dict, Iterable, List, Optional, Tuple

import sqlalchemy as sa

from actions import db
from components.constants import ATTACHMENT_ERRORS, MEDIA_REFERENCES, SENTIMENT

HANDOFF_ACTION = "action_handoff_to_human"
FALLBACK_ACTIONS = ("action_clarify_or_fallback", "action_default_fallback")
DEFAULT_DAYS = 30
# Share of negative turns above which a day or hour is flagged (config ``negative_alert_share``).
DEFAULT_NEGATIVE_ALERT_SHARE = 0.3
# Most days one report covers (bounds the query and the charts).
MAX_DAYS = 366
TOP_INTENTS = 10

_events = sa.table(
    "events", sa.column("id"), sa.column("sender_id"), sa.column("type_name"),
    sa.column("timestamp"), sa.column("intent_name"), sa.column("action_name"), sa.column("data"),
)


def sql_engine_of(tracker_store: Any) -> Optional[sa.engine.Engine]:
    """The SQLAlchemy engine of an SQL tracker store, through Rasa's wrappers; None otherwise."""
    store = tracker_store
    for _ in range(5):
        engine = getattr(store, "engine", None)
        if isinstance(engine, sa.engine.Engine):
            return engine
        store = getattr(store, "_tracker_store", None)
        if store is None:
            return None
    return None


def date_range(start: Optional[str], end: Optional[str], today: Optional[dt.date] = None) -> Tuple[dt.date, dt.date]:
    """[start, end] from ``YYYY-MM-DD`` strings (inclusive), default the last DEFAULT_DAYS days;
    raises ValueError for a malformed, reversed or too long range."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    last = dt.date.fromisoformat(end) if end else today
    first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValueError("The start date is after the end date.")
    if (last - first).days >= MAX_DAYS:
        raise ValueError(f"A report covers at most {MAX_DAYS} days.")
    return first, last


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()


def _rows(engine: sa.engine.Engine, first: dt.date, last: dt.date) -> Iterable[Any]:
    query = (
        sa.select(_events.c.sender_id, _events.c.type_name, _events.c.timestamp,
                  _events.c.intent_name, _events.c.action_name, _events.c.data)
        .where(_events.c.timestamp >= _epoch(first))
        .where(_events.c.timestamp < _epoch(last + dt.timedelta(days=1)))
        .where(_events.c.type_name.in_(("user", "action")))
        .order_by(_events.c.id)
    )
    with engine.connect() as conn:
        yield from conn.execute(query)


def compute(engine: sa.engine.Engine, shop: Optional[db.ShopDatabase], first: dt.date, last: dt.date,
            channel: Optional[str] = None, alert_share: float = DEFAULT_NEGATIVE_ALERT_SHARE) -> Dict[str, Any]:
    """Every table of the dashboard for the range (and channel, when given)."""
    channel_of: Dict[str, str] = {}
    last_intent: Dict[str, Optional[str]] = {}
    per_day_senders: Dict[str, set] = defaultdict(set)
    messages, negatives = Counter(), Counter()
    hour_messages, hour_negatives = Counter(), Counter()
    intents, handoff_intents, fallback_intents = Counter(), Counter(), Counter()
    media, errors = Counter(), Counter()
    handed_off: set = set()
    for sender, kind, timestamp, intent, action, data in _rows(engine, first, last):
        try:
            event = json.loads(data or "{}")
        except ValueError:
            continue
        if kind == "user":
            channel_of.setdefault(sender, event.get("input_channel") or "")
        if channel and channel_of.get(sender) != channel:
            continue
        if kind == "action":
            if sender not in channel_of:
                continue
            if action == HANDOFF_ACTION:
                handed_off.add(sender)
                handoff_intents[last_intent.get(sender) or "(none)"] += 1
            elif action in FALLBACK_ACTIONS:
                fallback_intents[last_intent.get(sender) or "(none)"] += 1
            continue
        when = dt.datetime.fromtimestamp(float(timestamp), dt.timezone.utc)
        day = when.date().isoformat()
        parse_data = event.get("parse_data") or {}
        sentiment = parse_data.get(SENTIMENT) if isinstance(parse_data.get(SENTIMENT), dict) else {}
        negative = sentiment.get("label") == "negative"
        per_day_senders[day].add(sender)
        messages[day] += 1
        negatives[day] += negative
        hour_messages[when.hour] += 1
        hour_negatives[when.hour] += negative
        last_intent[sender] = intent
        if intent:
            intents[intent] += 1
        kinds = {str(r.get("type")) for r in parse_data.get(MEDIA_REFERENCES) or [] if isinstance(r, dict)}
        if "image" in kinds:
            media["photo"] += 1
        if "audio" in kinds:
            media["voice"] += 1
        if not kinds & {"image", "audio"}:
            media["text"] += 1
        for error in parse_data.get(ATTACHMENT_ERRORS) or []:
            if isinstance(error, dict) and error.get("code"):
                errors[str(error["code"])] += 1

    conversations = set().union(*per_day_senders.values()) if per_day_senders else set()
    days = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]

    def share(negative: int, total: int) -> float:
        return round(negative / total, 4) if total else 0.0

    daily = [{"day": d, "conversations": len(per_day_senders.get(d, ())), "messages": messages[d],
              "negative_turns": negatives[d], "negative_share": share(negatives[d], messages[d]),
              "alert": share(negatives[d], messages[d]) > alert_share} for d in days]
    hourly = [{"hour": h, "messages": hour_messages[h], "negative_turns": hour_negatives[h],
               "negative_share": share(hour_negatives[h], hour_messages[h]),
               "alert": share(hour_negatives[h], hour_messages[h]) > alert_share} for h in range(24)]
    contained = len(conversations - handed_off)
    waits = _waits(shop, first, last, conversations) if shop is not None else []
    return {
        "first": first.isoformat(), "last": last.isoformat(), "channel": channel or "",
        "alert_share": alert_share,
        "daily": daily, "hourly": hourly,
        "intents": [{"intent": k, "messages": v} for k, v in intents.most_common(TOP_INTENTS)],
        "handoff_intents": [{"intent": k, "handoffs": v} for k, v in handoff_intents.most_common()],
        "fallback_intents": [{"intent": k, "fallbacks": v} for k, v in fallback_intents.most_common()],
        "media": [{"kind": k, "messages": media[k]} for k in ("text", "photo", "voice")],
        "errors": [{"code": k, "count": v} for k, v in sorted(errors.items())],
        "summary": [{
            "conversations": len(conversations), "messages": sum(messages.values()),
            "handed_off": len(conversations & handed_off), "contained": contained,
            "containment_rate": round(contained / len(conversations), 4) if conversations else 0.0,
            "claimed_tickets": len(waits),
            "average_wait_minutes": round(sum(waits) / len(waits) / 60, 2) if waits else None,
        }],
    }


def _waits(shop: db.ShopDatabase, first: dt.date, last: dt.date, senders: set) -> List[float]:
    """Seconds from hand-off to claim of the claimed tickets opened in the range."""
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    waits = []
    for ticket in shop.queue(include_closed=True):
        if ticket.get("claimed_at") and start <= ticket["created_at"] < end and ticket["sender_id"] in senders:
            waits.append((ticket["claimed_at"] - ticket["created_at"]).total_seconds())
    return waits


# The tables a CSV export may name (each a list of flat rows in the report).
TABLES = ("summary", "daily", "hourly", "intents", "handoff_intents", "fallback_intents", "media", "errors")


def to_csv(report: Dict[str, Any], table: str) -> str:
    rows = report[table]
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
