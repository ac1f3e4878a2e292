"""Slack channel with files, end to end: signed Slack events -> a real `rasa run` with
SlackMediaInput -> files fetched from a local fake Slack (bearer token checked) -> replies posted
back with chat.postMessage.

Nothing here waits for time: tests wait for what the bot did (a reply posted to the fake Slack),
and "nothing else happened" is checked after ``handled_before`` has sent a marker message that
Rasa can only handle after everything sent before it."""

import asyncio
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from components.channels import refusals
from components.channels.media_store import MediaStore
from components.channels.quotas import UploadQuota
from components.channels.slack import SlackMediaInput
from components.channels.uploads import UploadError
from components.media.errors import human_size
from components.media.policy import MediaPolicy
from tests.conftest import ROOT, saved_user_events, serve_rasa
from tests.fake_slack import FakeSlack, message_event, signed_headers

BOT_TOKEN = "xoxb-0000-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_dented.jpg"


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack(BOT_TOKEN).start()
    yield slack
    slack.stop()


@pytest.fixture(scope="module")
def slack_server(
    trained_assistant: Path,
    action_server: str,
    fake_slack: FakeSlack,
    upload_folder: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    credentials = (
        "components.channels.slack.SlackMediaInput:\n"
        f"  slack_token: {BOT_TOKEN}\n"
        f"  slack_signing_secret: {SIGNING_SECRET}\n"
        f"  slack_api_url: {fake_slack.api_url}\n"
        f"  media_folder: {upload_folder}\n"
    )
    folder = tmp_path_factory.mktemp("slack-channel")
    with serve_rasa(trained_assistant, credentials, action_server, folder) as url:
        yield url


def send_event(server: str, payload: Dict[str, Any], secret: str = SIGNING_SECRET, **headers: str) -> requests.Response:
    body = json.dumps(payload).encode()
    signed = signed_headers(body, secret)
    signed.update(headers)
    return requests.post(f"{server}/webhooks/slack/webhook", data=body, headers=signed, timeout=10)


def user_events(server: str, user: str) -> List[Dict[str, Any]]:
    """The user events of Slack user ``user``'s conversation (its id is ``slack-<user id>``)."""
    tracker = requests.get(f"{server}/conversations/slack-{user}/tracker", timeout=30).json()
    return [e for e in tracker.get("events", []) if e.get("event") == "user"]


def new_user() -> str:
    return f"U{uuid.uuid4().hex[:9].upper()}"


def new_channel() -> str:
    return f"D{uuid.uuid4().hex[:8].upper()}"


def handled_before(server: str, fake_slack: FakeSlack, user: str) -> List[Dict[str, Any]]:
    """``user``'s messages in the tracker once all they sent so far has been handled.

    A marker "hello" from the same user on a channel of its own is the same conversation (one
    per sender), and Rasa handles one conversation's messages one after another, in the order
    they reached it: once the marker is answered, everything sent before it is in the tracker.
    The marker itself is left out."""
    marker = new_channel()
    assert send_event(server, message_event("hello", channel=marker, user=user)).status_code == 200
    fake_slack.wait_for_posts_to(marker)
    return [e for e in user_events(server, user) if (e.get("metadata") or {}).get("out_channel") != marker]


def test_unsigned_or_badly_signed_events_are_rejected(slack_server: str, fake_slack: FakeSlack) -> None:
    user = new_user()
    payload = message_event("hello", channel="D0BADSIG", user=user)
    assert send_event(slack_server, payload, secret="not-the-secret").status_code == 400
    body = json.dumps(payload).encode()
    old = signed_headers(body, SIGNING_SECRET, timestamp=int(time.time()) - 600)  # replayed
    reply = requests.post(f"{slack_server}/webhooks/slack/webhook", data=body, headers=old, timeout=10)
    assert reply.status_code == 400
    assert handled_before(slack_server, fake_slack, user) == []
    assert fake_slack.posts_to("D0BADSIG") == []


def test_url_verification_challenge_is_answered(slack_server: str) -> None:
    reply = send_event(slack_server, {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})
    assert reply.status_code == 200
    assert reply.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_text_message_is_acknowledged_before_the_reply_and_answered(slack_server: str, fake_slack: FakeSlack) -> None:
    """Slack wants its answer within 3 s whatever the assistant does: with the reply held at
    the fake Slack, the event must still be acknowledged (a channel that answered Slack only
    after replying would wait on the held reply and time out here)."""
    user, channel = new_user(), new_channel()
    with fake_slack.holding_posts():
        reply = send_event(slack_server, message_event("hello", channel=channel, user=user))
        assert reply.status_code == 200
    (post,) = fake_slack.wait_for_posts_to(channel)
    assert "virtual assistant" in post["text"]


def test_a_text_over_the_cap_gets_a_polite_reply_and_is_not_handled(slack_server: str, fake_slack: FakeSlack) -> None:
    user, channel = new_user(), new_channel()
    assert send_event(slack_server, message_event("parcel " * 1000, channel=channel, user=user)).status_code == 200
    (post,) = fake_slack.wait_for_posts_to(channel)
    assert "too long" in post["text"] and "5,000 characters" in post["text"]
    assert handled_before(slack_server, fake_slack, user) == []


def test_slack_conversations_are_in_their_own_namespace(slack_server: str, fake_slack: FakeSlack) -> None:
    user, channel = new_user(), new_channel()
    assert send_event(slack_server, message_event("hello", channel=channel, user=user)).status_code == 200
    fake_slack.wait_for_posts_to(channel)
    (event,) = saved_user_events(slack_server, f"slack-{user}", 1)  # the conversation slack-<user id>
    assert event["text"] == "hello"
    bare = requests.get(f"{slack_server}/conversations/{user}/tracker", timeout=30).json()
    assert [e for e in bare.get("events", []) if e.get("event") == "user"] == []


def test_photo_only_message_is_downloaded_with_the_token_and_understood(
    slack_server: str, fake_slack: FakeSlack, upload_folder: str
) -> None:
    user, channel = new_user(), new_channel()
    data = PHOTO.read_bytes()
    file = fake_slack.add_file(f"F{uuid.uuid4().hex[:9].upper()}", "IMG_2041.jpg", data, "image/jpeg", "jpg")
    payload = message_event("", channel=channel, user=user, files=[file])
    with fake_slack.holding_files():  # acknowledged before the download, not after it
        assert send_event(slack_server, payload).status_code == 200
    assert fake_slack.wait_for_posts_to(channel), "the assistant did not answer the photo in Slack"

    # Slack retries the same event when it thinks we were slow: acknowledged, not handled twice.
    retry = send_event(slack_server, payload, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200 and retry.headers.get("X-Slack-No-Retry") == "1"

    (event,) = handled_before(slack_server, fake_slack, user)
    digest = hashlib.sha256(data).hexdigest()
    assert event["input_channel"] == "slack"
    assert event["metadata"]["attachments"] == [
        {"type": "image", "path": os.path.join(upload_folder, f"{digest}.jpg"), "mime": "image/jpeg", "name": "IMG_2041.jpg"}
    ]
    assert [r["sha256"] for r in event["parse_data"]["media_references"]] == [digest]
    downloads = [r for r in fake_slack.file_requests if file["id"] in r["path"]]
    assert len(downloads) == 1 and downloads[0]["authorization"] == f"Bearer {BOT_TOKEN}"


def test_unsupported_file_is_answered_with_a_clear_error(slack_server: str, fake_slack: FakeSlack) -> None:
    user, channel = new_user(), new_channel()
    file = fake_slack.add_file(f"F{uuid.uuid4().hex[:9].upper()}", "invoice.pdf", b"%PDF-1.7\n%\xe2\xe3\n", "application/pdf", "pdf")
    assert send_event(slack_server, message_event("", channel=channel, user=user, files=[file])).status_code == 200
    (post,) = fake_slack.wait_for_posts_to(channel)
    assert "I can't read that kind of file" in post["text"]
    assert handled_before(slack_server, fake_slack, user) == []  # nothing reached the assistant
    assert not [r for r in fake_slack.file_requests if file["id"] in r["path"]]  # never downloaded
    assert fake_slack.posts_to(channel) == [post]


def test_bot_messages_and_edits_are_ignored(slack_server: str, fake_slack: FakeSlack) -> None:
    user = new_user()
    for extra in ({"bot_id": "B0BOT"}, {"subtype": "message_changed"}):
        reply = send_event(slack_server, message_event("hello", channel="D0IGNORED", user=user, **extra))
        assert reply.status_code == 200
    assert handled_before(slack_server, fake_slack, user) == []
    assert fake_slack.posts_to("D0IGNORED") == []


def test_wrong_token_gets_slacks_login_page_and_is_reported_as_unauthorized(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """In process: the download refuses Slack's HTML sign-in page instead of storing it."""
    channel = SlackMediaInput("xoxb-wrong", slack_signing_secret="s", slack_api_url=fake_slack.api_url)
    file = fake_slack.add_file("FWRONGTOKEN", "p.jpg", PHOTO.read_bytes(), "image/jpeg", "jpg")
    references, problems = asyncio.run(channel.collect_files([file], "slack-UTEST"))
    assert references == [] and [p.code for p in problems] == ["unauthorized"]


def test_url_mode_passes_slack_url_to_the_resolver(fake_slack: FakeSlack) -> None:
    """download_files: false -> the reference is Slack's private URL (resolver fetches it)."""
    channel = SlackMediaInput(BOT_TOKEN, slack_signing_secret="s", download_files=False)
    file = fake_slack.add_file("FURLMODE01", "voice.webm", b"\x1a\x45\xdf\xa3webm", "audio/webm", "webm")
    references, problems = asyncio.run(channel.collect_files([file], "slack-UTEST"))
    assert problems == []
    assert references == [{"type": "audio", "url": file["url_private_download"], "mime": "audio/webm", "name": "voice.webm"}]
    assert fake_slack.file_requests == [] or all("FURLMODE01" not in r["path"] for r in fake_slack.file_requests)


def test_refused_file_type_names_the_formats_the_channel_accepts(fake_slack: FakeSlack, tmp_path: Path) -> None:
    policy = MediaPolicy(allowed_image_types=("image/jpeg",), allowed_audio_types=("audio/ogg",))
    channel = SlackMediaInput(
        BOT_TOKEN, slack_signing_secret="s", slack_api_url=fake_slack.api_url,
        media_store=MediaStore(str(tmp_path / "uploads"), policy),
    )
    file = fake_slack.add_file("FSPREADSHEET", "costs.xlsx", b"PK\x03\x04", "application/vnd.ms-excel", "xlsx")
    references, (problem,) = asyncio.run(channel.collect_files([file], "slack-UTEST"))
    assert references == [] and problem.code == "unsupported_type"
    assert problem.message.endswith("Please send a photo (JPEG) or a voice message (OGG/Opus).")


def test_file_over_the_cap_is_refused_while_downloading_whatever_slack_says(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """The file object claims 100 bytes; the download itself is capped and nothing is stored."""
    store = MediaStore(str(tmp_path / "uploads"), MediaPolicy(max_image_bytes=5_000))
    channel = SlackMediaInput(BOT_TOKEN, slack_signing_secret="s", slack_api_url=fake_slack.api_url, media_store=store)
    assert len(PHOTO.read_bytes()) > 5_000
    file = dict(fake_slack.add_file("FBIGPHOTO1", "big.jpg", PHOTO.read_bytes(), "image/jpeg", "jpg"), size=100)
    references, (problem,) = asyncio.run(channel.collect_files([file], "slack-UTEST"))
    assert references == [] and problem.code == "too_large" and "5 kB" in problem.message
    assert [r for r in fake_slack.file_requests if "FBIGPHOTO1" in r["path"]]  # it was downloading
    assert not (tmp_path / "uploads").exists()


def test_redirect_off_slack_is_not_followed_with_the_token(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """The token goes to Slack's hosts only: a hop to another host is refused before it is asked."""
    elsewhere = FakeSlack(BOT_TOKEN).start()
    try:
        target = elsewhere.add_file("FELSEWHERE", "p.jpg", PHOTO.read_bytes(), "image/jpeg", "jpg")
        other_host = target["url_private_download"].replace("127.0.0.1", "localhost")
        file = fake_slack.add_file("FREDIRECTS", "p.jpg", PHOTO.read_bytes(), "image/jpeg", "jpg")
        fake_slack.redirect_file("FREDIRECTS", other_host)
        channel = SlackMediaInput(
            BOT_TOKEN, slack_signing_secret="s", slack_api_url=fake_slack.api_url,
            media_store=MediaStore(str(tmp_path / "uploads")),
        )
        references, (problem,) = asyncio.run(channel.collect_files([file], "slack-UTEST"))
        assert references == [] and problem.code == "unreachable"
        assert [r for r in fake_slack.file_requests if "FREDIRECTS" in r["path"]]  # the redirect was read
        assert elsewhere.file_requests == []
    finally:
        elsewhere.stop()


def test_each_slack_users_downloads_count_against_their_upload_quota(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """In process, through handle_event: past ``upload_max_files`` a Slack user's files are refused
    with the quota's message, before they are downloaded; their words still reach Rasa, and another
    user's files are not affected. Past ``upload_max_bytes`` the downloaded file is not stored."""
    uploads = tmp_path / "uploads"
    data = PHOTO.read_bytes()
    handed: List[Any] = []

    async def on_new_message(message: Any) -> None:
        handed.append(message)

    def send(channel: SlackMediaInput, user: str, text: str, count: int) -> str:
        """``user`` sends ``count`` new photos (and ``text``); returns the Slack channel replied to."""
        out = new_channel()
        files = [fake_slack.add_file(f"F{uuid.uuid4().hex[:9].upper()}", "p.jpg", data, "image/jpeg", "jpg") for _ in range(count)]
        event = message_event(text, channel=out, user=user, files=files)["event"]
        asyncio.run(channel.handle_event(on_new_message, event, {"out_channel": out}, f"slack-{user}"))
        return out

    store = MediaStore(str(uploads))
    channel = SlackMediaInput(
        BOT_TOKEN, slack_signing_secret="s", slack_api_url=fake_slack.api_url, media_store=store,
        quota=UploadQuota.from_config({"upload_max_files": 2}),
    )
    customer, other = new_user(), new_user()
    before = len(fake_slack.file_requests)
    out = send(channel, customer, "", 3)
    assert len(fake_slack.file_requests) - before == 2  # the third photo was not downloaded
    (message,) = handed
    assert len(message.metadata["attachments"]) == 2
    (reply,) = fake_slack.posts_to(out)
    assert reply["text"] == UploadError.refusal(refusals.UPLOAD_RATE_LIMITED, limit=2).message

    out = send(channel, customer, "my parcel is dented", 1)
    assert len(fake_slack.file_requests) - before == 2
    assert handed[-1].text == "my parcel is dented" and "attachments" not in handed[-1].metadata
    assert [p["text"] for p in fake_slack.posts_to(out)] == [reply["text"]]

    send(channel, other, "", 1)
    assert len(handed[-1].metadata["attachments"]) == 1 and handed[-1].sender_id == f"slack-{other}"

    # Bytes: room for one photo and a half; the second is downloaded, refused and not stored.
    handed.clear()
    small = SlackMediaInput(
        BOT_TOKEN, slack_signing_secret="s", slack_api_url=fake_slack.api_url,
        media_store=MediaStore(str(tmp_path / "small")),
        quota=UploadQuota.from_config({"upload_max_bytes": len(data) * 3 // 2}),
    )
    out = send(small, customer, "", 2)
    (message,) = handed
    assert len(message.metadata["attachments"]) == 1 and len(list((tmp_path / "small").iterdir())) == 1
    (reply,) = fake_slack.posts_to(out)
    assert reply["text"] == UploadError.refusal(refusals.UPLOAD_QUOTA_EXCEEDED, limit=human_size(len(data) * 3 // 2)).message
