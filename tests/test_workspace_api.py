"""The agent workspace over HTTP against a real `rasa run` (REST, web chat and workspace channels,
SQL tracker store) and the real action server: sign-in, sessions and CSRF, who may see which
conversation and its media, claims by two agents, an agent's reply and hand-back on the REST
channel, and the analytics of 200 scripted conversations checked against direct SQL counts."""

import concurrent.futures
import csv
import json
import datetime as dt
import hashlib
import io
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from components.workspace.analytics import DEFAULT_NEGATIVE_ALERT_SHARE
from tests.conftest import ROOT
from tests.fake_slack import FakeSlack, message_event, signed_headers
from tests.workspace_server import (
    SEED_DAYS, SEED_FIRST_DAY, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SPIKE_DAY, AgentClient, add_agent,
    seed_conversations, workspace_server,
)

PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_torn.jpg"
HANDOFF = "I want to talk to a real person"


@pytest.fixture(scope="module")
def tracker_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("workspace-tracker") / "tracker.sqlite3"
    seed_conversations(path)
    return path


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack(SLACK_BOT_TOKEN).start()
    yield slack
    slack.stop()


@pytest.fixture(scope="module")
def server(trained_assistant: Path, action_server: str, shop_database_url: str, upload_folder: str,
           tracker_db: Path, fake_slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for name, role in (("alice", "agent"), ("bob", "agent"), ("carol", "admin")):
        add_agent(shop_database_url, name, role)
    folder = tmp_path_factory.mktemp("workspace-api")
    with workspace_server(trained_assistant, action_server, shop_database_url, folder, upload_folder,
                          tracker_db, slack_api_url=fake_slack.api_url) as url:
        yield url


def agent(server: str, name: str) -> AgentClient:
    client = AgentClient(server)
    assert client.sign_in(name).status_code == 303
    return client


def say(server: str, sender: str, text: str, **files: Any) -> List[Dict[str, Any]]:
    if files:
        answer = requests.post(f"{server}/webhooks/rest/webhook", data={"sender": sender, "message": text},
                               files=files, timeout=120)
    else:
        answer = requests.post(f"{server}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def handed_off(server: str) -> str:
    """A REST conversation with a photo, handed off to a human; its sender id."""
    sender = f"rest-{uuid.uuid4().hex[:10]}"
    say(server, sender, "my parcel arrived like this", file=("parcel.jpg", PHOTO.read_bytes(), "image/jpeg"))
    replies = say(server, sender, HANDOFF)
    assert "ticket TCK-" in " ".join(r.get("text", "") for r in replies), replies
    return sender


def ticket_of(client: AgentClient, sender: str) -> int:
    rows = client.get("/queue/rows", headers={"Accept": "text/html"}).text
    marker = rows.index(f"/conversations/{sender}")
    return int(rows[:marker].rsplit('data-ticket="', 1)[1].split('"', 1)[0])


def test_wrong_password_is_refused_and_the_right_one_opens_a_hardened_session(server: str) -> None:
    client = AgentClient(server)
    wrong = client.sign_in("alice", "not the password at all")
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    assert "workspace_session" not in client.http.cookies
    unknown = AgentClient(server).sign_in("nobody-here", "whatever password")
    assert unknown.status_code == 401 and "Wrong name or password" in unknown.text
    right = client.sign_in("alice")
    assert right.status_code == 303 and right.headers["location"].endswith("/queue")
    cookie = right.headers["set-cookie"]
    assert "workspace_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/queue", headers={"Accept": "text/html"}).status_code == 200


def test_repeated_wrong_passwords_lock_the_name_for_a_while(server: str) -> None:
    add_agent_name = "dave"
    client = AgentClient(server)
    codes = [client.sign_in(add_agent_name, f"wrong password {n}").status_code for n in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_no_session_no_workspace(server: str) -> None:
    anonymous = AgentClient(server)
    assert anonymous.get("/queue", headers={"Accept": "application/json"}).json()["error"]["code"] == "not_signed_in"
    assert anonymous.get("/queue", headers={"Accept": "application/json"}).status_code == 401
    page = anonymous.get("/queue", headers={"Accept": "text/html"}, allow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].endswith("/login")
    for path in ("/queue/events", "/analytics", "/analytics/csv/daily", "/conversations/rest-x/media/" + "0" * 64):
        assert anonymous.get(path).status_code == 401, path
    # A forged or tampered cookie is no session either.
    forged = AgentClient(server)
    forged.http.cookies.set("workspace_session", "eyJuYW1lIjogImNhcm9sIn0.deadbeef", path="/webhooks/workspace/")
    assert forged.get("/analytics").status_code == 401
    signed = agent(server, "alice")
    value = signed.http.cookies.get("workspace_session")
    body, _, signature = value.partition(".")
    tampered = AgentClient(server)
    tampered.http.cookies.set("workspace_session", body[:-2] + "xx." + signature, path="/webhooks/workspace/")
    assert tampered.get("/queue").status_code == 401
    assert anonymous.post("/tickets/1/claim", csrf=False).status_code == 401


def test_posts_without_the_csrf_token_are_refused(server: str) -> None:
    sender = handed_off(server)
    alice = agent(server, "alice")
    ticket = ticket_of(alice, sender)
    refused = alice.post(f"/tickets/{ticket}/claim", csrf=False)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = alice.post(f"/tickets/{ticket}/claim", {"csrf_token": "0" * 64}, csrf=False)
    assert wrong.status_code == 403
    assert 'data-ticket="%d"' % ticket in alice.get("/queue/rows").text
    assert "<em>unclaimed</em>" in alice.get("/queue/rows").text.split('data-ticket="%d"' % ticket, 1)[1].split("</tr>")[0]
    # Another agent's token does not work with this session.
    bob = agent(server, "bob")
    assert alice.post(f"/tickets/{ticket}/claim", {"csrf_token": bob.csrf}, csrf=False).status_code == 403
    # The sign-in form has its own token.
    bare = requests.post(f"{alice.base}/login", data={"name": "alice", "password": "a long enough password"},
                         allow_redirects=False, timeout=30)
    assert bare.status_code == 403 and "workspace_session" not in bare.headers.get("set-cookie", "")


def test_media_only_of_conversations_with_a_ticket(server: str) -> None:
    alice = agent(server, "alice")
    digest = hashlib.sha256(PHOTO.read_bytes()).hexdigest()
    # A conversation that never asked for a human: its photo is not the workspace's business.
    private = f"rest-{uuid.uuid4().hex[:10]}"
    say(server, private, "my parcel arrived like this", file=("parcel.jpg", PHOTO.read_bytes(), "image/jpeg"))
    refused = alice.get(f"/conversations/{private}/media/{digest}")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "no_ticket"
    assert alice.get(f"/conversations/{private}", headers={"Accept": "application/json"}).status_code == 404
    # The same photo in a handed-off conversation is served, to a signed-in agent only.
    sender = handed_off(server)
    served = alice.get(f"/conversations/{sender}/media/{digest}")
    assert served.status_code == 200 and served.content == PHOTO.read_bytes()
    assert served.headers["content-type"] == "image/jpeg" and "no-store" in served.headers["cache-control"]
    assert alice.get(f"/conversations/{sender}/media/{'1' * 64}").status_code == 404
    page = alice.get(f"/conversations/{sender}", headers={"Accept": "text/html"}).text
    assert f'class="photo" src="/webhooks/workspace/conversations/{sender}/media/{digest}"' in page


def test_two_agents_claiming_one_ticket(server: str) -> None:
    sender = handed_off(server)
    alice, bob = agent(server, "alice"), agent(server, "bob")
    ticket = ticket_of(alice, sender)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda c: c.post(f"/tickets/{ticket}/claim"), (alice, bob)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [(a.status_code, a.text) for a in answers]
    winner, loser = (alice, bob) if answers[0].status_code == 200 else (bob, alice)
    winner_name = "alice" if winner is alice else "bob"
    assert answers[[alice, bob].index(loser)].json()["error"]["code"] == "claimed_by_other"
    assert winner_name in answers[[alice, bob].index(loser)].json()["error"]["message"]
    # Everyone sees who has it; only the holder may reply or hand back.
    row = loser.get("/queue/rows").text.split('data-ticket="%d"' % ticket, 1)[1].split("</tr>")[0]
    assert winner_name in row
    assert loser.post(f"/tickets/{ticket}/reply", {"text": "hi"}).status_code == 409
    assert loser.post(f"/tickets/{ticket}/handback").status_code == 409
    assert winner.post(f"/tickets/{ticket}/claim").status_code == 200  # claiming again is harmless


def test_reply_on_rest_is_stored_for_polling_and_hand_back_resumes_the_bot(server: str) -> None:
    sender = handed_off(server)
    alice = agent(server, "alice")
    ticket = ticket_of(alice, sender)
    assert alice.post(f"/tickets/{ticket}/claim").status_code == 200
    assert alice.post(f"/tickets/{ticket}/reply", {"text": ""}).status_code == 400
    assert alice.post(f"/tickets/{ticket}/reply", {"text": "x" * 2001}).status_code == 400
    assert alice.post(f"/tickets/{ticket}/reply", {"text": "Hello, I am Alice. I see the photo."}).status_code == 200
    # The customer writes while the bot is paused: no bot answer, but the agent sees it.
    assert say(server, sender, "thank you, it is the mug") == []
    page = alice.get(f"/conversations/{sender}/turns", headers={"Accept": "text/html"}).text
    assert "thank you, it is the mug" in page and "alice (agent)" in page
    tracker = requests.get(f"{server}/conversations/{sender}/tracker", timeout=30).json()
    agent_events = [e for e in tracker["events"] if e["event"] == "bot" and (e.get("metadata") or {}).get("agent")]
    assert [(e["text"], e["metadata"]["agent"]) for e in agent_events] == [("Hello, I am Alice. I see the photo.", "alice")]
    assert alice.post(f"/tickets/{ticket}/handback").status_code == 200
    assert say(server, sender, "hello"), "the assistant did not answer after the hand-back"
    assert alice.post(f"/tickets/{ticket}/reply", {"text": "too late"}).status_code == 409
    assert f'data-ticket="{ticket}"' not in alice.get("/queue/rows").text


def test_reply_to_a_slack_customer_is_posted_to_their_slack_channel(server: str, fake_slack: FakeSlack) -> None:
    user, channel = f"U{uuid.uuid4().hex[:9].upper()}", f"D{uuid.uuid4().hex[:8].upper()}"
    body = json.dumps(message_event(HANDOFF, channel=channel, user=user)).encode()
    sent = requests.post(f"{server}/webhooks/slack/webhook", data=body,
                         headers=signed_headers(body, SLACK_SIGNING_SECRET), timeout=30)
    assert sent.status_code == 200
    before = fake_slack.wait_for_posts_to(channel)
    assert "ticket TCK-" in before[-1]["text"]
    alice = agent(server, "alice")
    sender = f"slack-{user}"
    ticket = ticket_of(alice, sender)
    assert alice.post(f"/tickets/{ticket}/claim").status_code == 200
    assert alice.post(f"/tickets/{ticket}/reply", {"text": "Hi, Alice here from the support team."}).status_code == 200
    posts = fake_slack.wait_for_posts_to(channel, count=len(before) + 1)
    assert posts[-1]["text"] == "Hi, Alice here from the support team."
    assert alice.post(f"/tickets/{ticket}/handback").status_code == 200


def test_close_ends_the_ticket_without_resuming(server: str) -> None:
    sender = handed_off(server)
    bob = agent(server, "bob")
    ticket = ticket_of(bob, sender)
    assert bob.post(f"/tickets/{ticket}/claim").status_code == 200
    assert bob.post(f"/tickets/{ticket}/close").status_code == 200
    assert say(server, sender, "hello?") == []  # still paused: nobody answers but a human
    # Bob handled it, so he may still read it; Alice (an agent who did not) may not, Carol (admin) may.
    assert bob.get(f"/conversations/{sender}", headers={"Accept": "text/html"}).status_code == 200
    assert agent(server, "alice").get(f"/conversations/{sender}").status_code == 404
    assert agent(server, "carol").get(f"/conversations/{sender}").status_code == 200


def _sql(tracker_db: Path, query: str, *args: Any) -> List[Any]:
    with sqlite3.connect(tracker_db) as conn:
        return conn.execute(query, args).fetchall()


def _csv(client: AgentClient, table: str, query: str) -> List[Dict[str, str]]:
    answer = client.get(f"/analytics/csv/{table}{query}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_analytics_of_200_conversations_match_direct_sql(server: str, tracker_db: Path) -> None:
    last = SEED_FIRST_DAY + dt.timedelta(days=SEED_DAYS - 1)
    query = f"?start={SEED_FIRST_DAY}&end={last}"
    start = dt.datetime.combine(SEED_FIRST_DAY, dt.time(), dt.timezone.utc).timestamp()
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.timezone.utc).timestamp()
    assert agent(server, "alice").get("/analytics" + query).status_code == 403  # admins only
    carol = agent(server, "carol")
    page = carol.get("/analytics" + query, headers={"Accept": "text/html"})
    assert page.status_code == 200

    users = "FROM events WHERE type_name = 'user' AND timestamp >= ? AND timestamp < ?"
    (total_conversations, total_messages), = _sql(tracker_db, f"SELECT count(DISTINCT sender_id), count(*) {users}", start, end)
    assert total_conversations == 200
    handed = _sql(tracker_db, "SELECT count(DISTINCT sender_id) FROM events WHERE action_name = 'action_handoff_to_human' "
                  "AND timestamp >= ? AND timestamp < ?", start, end)[0][0]
    (summary,) = _csv(carol, "summary", query)
    assert int(summary["conversations"]) == total_conversations and int(summary["messages"]) == total_messages
    assert int(summary["handed_off"]) == handed
    assert float(summary["containment_rate"]) == round((total_conversations - handed) / total_conversations, 4)
    assert f'id="kpi-conversations">{total_conversations}<' in page.text

    daily = {r[0]: r[1:] for r in _sql(
        tracker_db, "SELECT date(timestamp, 'unixepoch'), count(DISTINCT sender_id), count(*), "
        f"sum(json_extract(data, '$.parse_data.sentiment.label') = 'negative') {users} GROUP BY 1", start, end)}
    rows = _csv(carol, "daily", query)
    assert len(rows) == SEED_DAYS
    for row in rows:
        conversations, messages, negative = daily[row["day"]]
        assert (int(row["conversations"]), int(row["messages"]), int(row["negative_turns"])) == (conversations, messages, negative)
    spike = (SEED_FIRST_DAY + dt.timedelta(days=SPIKE_DAY)).isoformat()
    alerting = sorted(day for day, (_, messages, negative) in daily.items() if negative / messages > DEFAULT_NEGATIVE_ALERT_SHARE)
    assert [r["day"] for r in rows if r["alert"] == "True"] == alerting and spike in alerting
    assert spike in page.text and 'id="negative-alert"' in page.text

    hourly = dict(_sql(tracker_db, f"SELECT CAST(strftime('%H', timestamp, 'unixepoch') AS INTEGER), count(*) {users} GROUP BY 1", start, end))
    assert {int(r["hour"]): int(r["messages"]) for r in _csv(carol, "hourly", query) if int(r["messages"])} == hourly

    intents = dict(_sql(tracker_db, f"SELECT intent_name, count(*) {users} GROUP BY intent_name", start, end))
    assert {r["intent"]: int(r["messages"]) for r in _csv(carol, "intents", query)} == intents

    kinds = "EXISTS (SELECT 1 FROM json_each(events.data, '$.parse_data.media_references') WHERE json_extract(value, '$.type') = ?)"
    photos = _sql(tracker_db, f"SELECT count(*) {users} AND {kinds}", start, end, "image")[0][0]
    voices = _sql(tracker_db, f"SELECT count(*) {users} AND {kinds}", start, end, "audio")[0][0]
    media = {r["kind"]: int(r["messages"]) for r in _csv(carol, "media", query)}
    assert media == {"photo": photos, "voice": voices, "text": total_messages - photos - voices} and photos and voices

    errors = dict(_sql(tracker_db, "SELECT json_extract(e.value, '$.code'), count(*) FROM events, "
                       "json_each(events.data, '$.parse_data.attachment_errors') AS e WHERE type_name = 'user' "
                       "AND timestamp >= ? AND timestamp < ? GROUP BY 1", start, end))
    assert {r["code"]: int(r["count"]) for r in _csv(carol, "errors", query)} == errors and errors

    handoff_intents = {r["intent"]: int(r["handoffs"]) for r in _csv(carol, "handoff_intents", query)}
    assert sum(handoff_intents.values()) == handed and set(handoff_intents) == {"complaint"}

    # The channel filter: REST conversations only.
    rest = _sql(tracker_db, f"SELECT count(DISTINCT sender_id) {users} AND json_extract(data, '$.input_channel') = 'rest'", start, end)[0][0]
    (rest_summary,) = _csv(carol, "summary", query + "&channel=rest")
    assert int(rest_summary["conversations"]) == rest and 0 < rest < total_conversations

    for chart in ("daily", "negative_daily", "negative_hourly", "intents", "media", "errors"):
        svg = carol.get(f"/analytics/chart/{chart}{query}")
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    assert carol.get("/analytics?start=2026-13-01").status_code == 400
    assert carol.get("/analytics/csv/secrets").status_code == 404


def test_wait_for_a_human_counts_todays_claimed_tickets(server: str) -> None:
    carol = agent(server, "carol")
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    (summary,) = _csv(carol, "summary", f"?start={today}&end={today}")
    assert int(summary["claimed_tickets"]) >= 3 and float(summary["average_wait_minutes"]) >= 0
