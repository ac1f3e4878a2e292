"""What the channels accept from clients, against a real `rasa run` with the web chat and an
authenticated REST channel: server-issued web chat sessions, REST sender tokens and JWTs (and the
shop customer a JWT vouches for), upload quotas, upload retention, the text cap and the web chat's
uploads-only rule.

Socket.io conversations use python-socketio's client; tests wait for events, never for time."""

import os
import time
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Tuple

import jwt
import pytest
import requests
import socketio

from components.channels.senders import sign_sender_token
from tests.conftest import ROOT, saved_user_events
from tests.socket_chat import Chat

PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_dented.jpg"
SENDER_SECRET = "rest-sender-secret-for-tests"
JWT_KEY = "rest-jwt-key-for-tests-at-least-32-bytes"
MAX_FILES = 3
FORGED = "webchat-" + "0" * 32 + "." + "0" * 32


@pytest.fixture(scope="module")
def aged_uploads(upload_folder: str) -> Tuple[str, str]:
    """One upload older than the retention and one fresh, in the store before the server starts."""
    folder = ROOT / upload_folder
    folder.mkdir(parents=True, exist_ok=True)
    old, fresh = folder / ("a" * 64 + ".jpg"), folder / ("b" * 64 + ".jpg")
    old.write_bytes(PHOTO.read_bytes())
    fresh.write_bytes(PHOTO.read_bytes())
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    return str(old), str(fresh)


@pytest.fixture(scope="module")
def server(
    channel_server: Callable[[str, str], ContextManager[str]], upload_folder: str, aged_uploads: Tuple[str, str]
) -> Iterator[str]:
    limits = f"  media_folder: {upload_folder}\n  upload_max_files: {MAX_FILES}\n  upload_retention_hours: 24\n"
    credentials = (
        "components.channels.webchat.WebChatInput:\n  session_persistence: true\n"
        "  session_secret: webchat-secret-for-tests\n" + limits
        + "components.channels.rest.MediaRestInput:\n"
        f"  sender_token_secret: {SENDER_SECRET}\n  jwt_key: {JWT_KEY}\n" + limits
    )
    with channel_server("channel-security", credentials) as url:
        yield url


@pytest.fixture()
def chat(server: str) -> Iterator[Chat]:
    opened = Chat(server)
    yield opened
    opened.close()


def tracker(server: str, sender: str) -> Dict[str, Any]:
    return requests.get(f"{server}/conversations/{sender}/tracker", timeout=30).json()


def user_events(server: str, sender: str) -> List[Dict[str, Any]]:
    return [e for e in tracker(server, sender).get("events", []) if e.get("event") == "user"]


def client_visible(metadata: Dict[str, Any]) -> Dict[str, Any]:
    """Event metadata without the keys Rasa itself adds (model_id, assistant_id)."""
    return {k: v for k, v in metadata.items() if k not in ("model_id", "assistant_id")}


def upload(server: str, session: str = None, token: str = None) -> requests.Response:
    headers = {"X-Session-Id": session} if session is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(
        f"{server}/webhooks/webchat/upload",
        files={"file": (PHOTO.name, PHOTO.read_bytes(), "image/jpeg")},
        headers=headers,
        timeout=60,
    )


def test_the_server_issues_the_session_and_refuses_ids_it_did_not_sign(server: str, chat: Chat) -> None:
    confirmed = chat.request_session(FORGED)
    assert confirmed != FORGED and confirmed.startswith("webchat-")
    chat.say("where is my order", session_id=FORGED)
    assert chat.next("webchat_error")["code"] == "invalid_session"
    assert user_events(server, FORGED) == []

    other = Chat(server)  # a valid session, but issued to another socket
    try:
        stolen = other.request_session()
        chat.say("where is my order", session_id=stolen)
        assert chat.next("webchat_error")["code"] == "invalid_session"
        assert user_events(server, stolen) == []
    finally:
        other.close()

    chat.say("hello")
    assert "virtual assistant" in chat.next("bot_uttered")["text"]
    (event,) = saved_user_events(server, confirmed, 1)
    assert event["input_channel"] == "webchat"

    again = Chat(server)  # a reload: the signed id continues the conversation
    try:
        assert again.request_session(confirmed) == confirmed
    finally:
        again.close()


def test_uploads_need_a_signed_session_and_are_capped_per_session(server: str, chat: Chat) -> None:
    assert upload(server).status_code == 403
    refused = upload(server, FORGED)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "invalid_session"
    session = chat.request_session()
    for _ in range(MAX_FILES):
        assert upload(server, session).status_code == 201
    over = upload(server, session)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "upload_rate_limited"
    assert f"{MAX_FILES} files" in over.json()["error"]["message"]
    fresh = Chat(server)  # another session is not affected
    try:
        assert upload(server, fresh.request_session()).status_code == 201
    finally:
        fresh.close()


def test_uploads_past_retention_are_removed_at_start(server: str, aged_uploads: Tuple[str, str]) -> None:
    old, fresh = aged_uploads
    assert not os.path.exists(old)
    assert os.path.exists(fresh)


def test_web_chat_keeps_only_uploads_and_no_client_metadata(server: str, chat: Chat) -> None:
    session = chat.request_session()
    typed = "data/media/images/wrong_item_cat.jpg this is what I got"
    chat.say(typed, metadata={"junk": "x" * 50_000, "inline_references": True,
                              "attachments": [{"type": "image", "path": "data/media/images/wrong_item_cat.jpg"}]})
    chat.next("bot_uttered")
    (event,) = saved_user_events(server, session, 1)
    assert client_visible(event["metadata"]) == {"inline_references": False}
    assert event["parse_data"]["media_references"] == []  # neither the typed path nor the reference


def test_web_chat_refuses_a_text_over_the_cap(server: str, chat: Chat) -> None:
    session = chat.request_session()
    chat.say("parcel " * 2000)
    error = chat.next("webchat_error")
    assert error["code"] == "text_too_long" and "5,000 characters" in error["message"]
    chat.say("hello")
    chat.next("bot_uttered")
    assert [e["text"] for e in saved_user_events(server, session, 1)] == ["hello"]


def test_rest_needs_a_sender_token_for_its_sender(server: str) -> None:
    url = f"{server}/webhooks/rest/webhook"
    body = {"sender": "customer-42", "message": "hello"}
    missing = requests.post(url, json=body, timeout=60)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "sender_unauthorized"
    for_other = sign_sender_token(SENDER_SECRET, "customer-43")
    assert requests.post(url, json=body, headers={"Authorization": f"Bearer {for_other}"}, timeout=60).status_code == 401
    expired = sign_sender_token(SENDER_SECRET, "customer-42", ttl_s=-10)
    assert requests.post(url, json=body, headers={"Authorization": f"Bearer {expired}"}, timeout=60).status_code == 401
    assert user_events(server, "customer-42") == []
    token = sign_sender_token(SENDER_SECRET, "customer-42")
    reply = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert reply.status_code == 200 and "virtual assistant" in reply.json()[0]["text"]
    webchat_id = sign_sender_token(SENDER_SECRET, FORGED)
    reserved = requests.post(
        url, json={"sender": FORGED, "message": "hi"}, headers={"Authorization": f"Bearer {webchat_id}"}, timeout=60
    )
    assert reserved.status_code == 403 and reserved.json()["error"]["code"] == "sender_reserved"


def signed_jwt(claims: Dict[str, Any], key: str = JWT_KEY, ttl_s: float = 600) -> str:
    return jwt.encode({**claims, "exp": int(time.time() + ttl_s)}, key, algorithm="HS256")


def test_a_rest_jwt_names_its_sender_and_may_vouch_for_the_shop_customer(server: str) -> None:
    """A JWT's ``sub`` is the sender; its ``customer_id`` claim (the integrator signed that customer
    in) lets the assistant disclose that customer's own order without asking for the email or
    postcode. A client's own ``customer_id`` metadata vouches for nothing."""
    url = f"{server}/webhooks/rest/webhook"

    def post(token: str, sender: str, text: str, **body: Any) -> requests.Response:
        payload = {"sender": sender, "message": text, **body}
        return requests.post(url, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    for token in (
        signed_jwt({"sub": "jwt-sam"}, key="another-key-that-is-also-32-bytes-long"),
        signed_jwt({"sub": "jwt-someone-else"}),
        signed_jwt({"sub": "jwt-sam"}, ttl_s=-60),
    ):
        refused = post(token, "jwt-sam", "hello")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "sender_unauthorized"
    assert user_events(server, "jwt-sam") == []

    # Alex (C-1001) owns order 12345.
    alex = post(signed_jwt({"sub": "jwt-alex", "customer_id": "C-1001"}), "jwt-alex", "where is my order 12345")
    assert alex.status_code == 200
    assert "DHL" in " ".join(m.get("text", "") for m in alex.json())
    assert user_events(server, "jwt-alex")[-1]["metadata"]["customer_id"] == "C-1001"

    stranger = post(
        signed_jwt({"sub": "jwt-stranger"}), "jwt-stranger", "where is my order 12345", metadata={"customer_id": "C-1001"}
    )
    texts = " ".join(m.get("text", "") for m in stranger.json())
    assert "email address or the postcode" in texts and "DHL" not in texts
    assert "customer_id" not in user_events(server, "jwt-stranger")[-1]["metadata"]

    bad = post(signed_jwt({"sub": "jwt-bad", "customer_id": ["C-1001"]}), "jwt-bad", "where is my order 12345")
    assert bad.status_code == 400 and "'customer_id' claim" in bad.json()["error"]["message"]
    assert user_events(server, "jwt-bad") == []


@pytest.fixture(scope="module")
def signed_in_server(channel_server: Callable[[str, str], ContextManager[str]], upload_folder: str) -> Iterator[str]:
    """A web chat embedded in a shop site that signs its customers in: sockets need its JWT."""
    credentials = (
        "components.channels.webchat.WebChatInput:\n  session_secret: webchat-secret-for-tests\n"
        f"  jwt_key: {JWT_KEY}\n  media_folder: {upload_folder}\n"
    )
    with channel_server("webchat-jwt", credentials) as url:
        yield url


def bot_replies_until(chat: Chat, words: str, timeout: float = 120) -> str:
    """The bot's texts to ``chat``, joined, up to the first that contains ``words``."""
    deadline, texts = time.monotonic() + timeout, []
    while not texts or words not in texts[-1]:
        texts.append(chat.next("bot_uttered", timeout=max(0.1, deadline - time.monotonic())).get("text") or "")
    return " ".join(texts)


def test_a_web_chat_jwt_gates_the_socket_and_may_vouch_for_the_shop_customer(signed_in_server: str) -> None:
    """The embedding site's JWT (``auth: {token}``) opens the socket; its ``customer_id`` claim
    reaches the actions with each message, so that customer's own order is disclosed without the
    email or postcode check. A client's own ``customer_id`` metadata vouches for nothing."""
    for token in (None, "not-a-jwt", signed_jwt({"sub": "x"}, key="another-key-that-is-also-32-bytes-long"),
                  signed_jwt({"sub": "x"}, ttl_s=-60), signed_jwt({"customer_id": ["C-1001"]})):
        with pytest.raises(socketio.exceptions.ConnectionError):
            Chat(signed_in_server, token).close()

    alex = Chat(signed_in_server, signed_jwt({"customer_id": "C-1001"}))  # Alex owns order 12345
    stranger = Chat(signed_in_server, signed_jwt({}))
    try:
        alex.request_session()
        alex.say("where is my order 12345")
        assert "DHL" in bot_replies_until(alex, "DHL")
        assert saved_user_events(signed_in_server, alex.session, 1)[-1]["metadata"]["customer_id"] == "C-1001"

        # A file goes into a signed-in customer's session only with that customer's token.
        assert upload(signed_in_server, alex.session).json()["error"]["code"] == "unauthorized"
        for claims in ({"customer_id": "C-1002"}, {}):
            refused = upload(signed_in_server, alex.session, signed_jwt(claims))
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "invalid_session"
        assert upload(signed_in_server, alex.session, signed_jwt({"customer_id": "C-1001"})).status_code == 201

        stranger.request_session()
        stranger.say("where is my order 12345", metadata={"customer_id": "C-1001"})
        reply = bot_replies_until(stranger, "email address or the postcode")
        assert "email address or the postcode" in reply and "DHL" not in reply
        assert "customer_id" not in saved_user_events(signed_in_server, stranger.session, 1)[-1]["metadata"]

        # A signed-in customer's session is theirs: on a shared browser the next customer (or a
        # socket vouching for nobody) offering it gets a new one; Alex on a new socket keeps it.
        for claims in ({"customer_id": "C-1002"}, {}):
            other = Chat(signed_in_server, signed_jwt(claims))
            try:
                assert other.request_session(alex.session) not in (alex.session, "")
            finally:
                other.close()
        assert stranger.request_session(alex.session) != alex.session
        again = Chat(signed_in_server, signed_jwt({"customer_id": "C-1001"}))
        try:
            assert again.request_session(alex.session) == alex.session
        finally:
            again.close()
    finally:
        alex.close()
        stranger.close()


def test_a_customers_session_id_verifies_only_for_that_customer() -> None:
    from components.channels.senders import SessionSigner

    signer = SessionSigner(b"secret-for-this-test")
    alex, anonymous = signer.issue("C-1001"), signer.issue()
    assert signer.verify(alex, "C-1001") and signer.verify(anonymous)
    assert not signer.verify(alex) and not signer.verify(alex, "C-1002") and not signer.verify(anonymous, "C-1001")
    assert not SessionSigner(b"another-secret").verify(alex, "C-1001")
