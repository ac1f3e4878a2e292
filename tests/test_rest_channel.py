"""REST channel with media, end to end: a real `rasa run` with MediaRestInput and the trained
assistant; uploads and inline data become media-store references the pipeline resolves."""

import base64
import hashlib
import io
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List

import pytest
import requests
from PIL import Image

from tests.conftest import ROOT

PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_torn.jpg"
SCREENSHOT = ROOT / "data" / "media" / "images" / "payment_error_e5103.png"
MAX_IMAGE_BYTES = 200_000


@pytest.fixture(scope="module")
def rest_server(channel_server: Callable[[str, str], ContextManager[str]], upload_folder: str) -> Iterator[str]:
    credentials = (
        "components.channels.rest.MediaRestInput:\n"
        f"  media_folder: {upload_folder}\n  max_image_bytes: {MAX_IMAGE_BYTES}\n"
    )
    with channel_server("rest-channel", credentials) as url:
        yield url


def webhook(server: str) -> str:
    return f"{server}/webhooks/rest/webhook"


def user_events(server: str, sender: str) -> List[Dict[str, Any]]:
    tracker = requests.get(f"{server}/conversations/{sender}/tracker", timeout=30).json()
    return [e for e in tracker.get("events", []) if e.get("event") == "user"]


def sender_id() -> str:
    return f"rest-{uuid.uuid4().hex[:10]}"


def test_plain_json_messages_still_work(rest_server: str) -> None:
    sender = sender_id()
    replies = requests.post(webhook(rest_server), json={"sender": sender, "message": "hello"}, timeout=120)
    assert replies.status_code == 200
    assert replies.json() and "virtual assistant" in replies.json()[0]["text"]
    (event,) = user_events(rest_server, sender)
    assert event["input_channel"] == "rest"


def test_multipart_photo_upload_reaches_the_pipeline_as_a_reference(
    rest_server: str, upload_folder: str
) -> None:
    sender = sender_id()
    data = PHOTO.read_bytes()
    reply = requests.post(
        webhook(rest_server),
        data={"sender": sender, "message": "my parcel arrived like this"},
        files={"file": ("parcel.jpg", data, "image/jpeg")},
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json(), "the assistant answered nothing"
    (event,) = user_events(rest_server, sender)
    digest = hashlib.sha256(data).hexdigest()
    assert event["metadata"]["attachments"] == [
        {"type": "image", "path": os.path.join(upload_folder, f"{digest}.jpg"), "mime": "image/jpeg", "name": "parcel.jpg"}
    ]
    assert [r["sha256"] for r in event["parse_data"]["media_references"]] == [digest]
    assert event["parse_data"]["attachment_errors"] == []
    assert (ROOT / upload_folder / f"{digest}.jpg").read_bytes() == data


def test_inline_base64_is_stored_and_no_blob_reaches_the_tracker(rest_server: str, upload_folder: str) -> None:
    sender = sender_id()
    data = SCREENSHOT.read_bytes()
    encoded = base64.b64encode(data).decode()
    payload = {
        "sender": sender,
        "message": "I get this error when paying",
        "metadata": {"attachments": [{"type": "image", "data": f"data:image/png;base64,{encoded}"}]},
    }
    reply = requests.post(webhook(rest_server), json=payload, timeout=120)
    assert reply.status_code == 200, reply.text
    tracker_text = requests.get(f"{rest_server}/conversations/{sender}/tracker", timeout=30).text
    assert encoded[:200] not in tracker_text
    (event,) = user_events(rest_server, sender)
    digest = hashlib.sha256(data).hexdigest()
    assert event["metadata"]["attachments"][0]["path"] == os.path.join(upload_folder, f"{digest}.png")
    assert [r["sha256"] for r in event["parse_data"]["media_references"]] == [digest]


def test_path_reference_in_json_metadata_passes_through(rest_server: str) -> None:
    sender = sender_id()
    reference = {"type": "image", "path": "data/media/images/wrong_item_cat.jpg"}
    reply = requests.post(
        webhook(rest_server),
        json={"sender": sender, "message": "this is not what I ordered", "metadata": {"attachments": [reference]}},
        timeout=120,
    )
    assert reply.status_code == 200
    (event,) = user_events(rest_server, sender)
    assert event["metadata"]["attachments"] == [reference]
    digest = hashlib.sha256((ROOT / reference["path"]).read_bytes()).hexdigest()
    assert [r["sha256"] for r in event["parse_data"]["media_references"]] == [digest]


def test_voice_upload_is_transcribed(rest_server: str, tmp_path: Path) -> None:
    wav = tmp_path / "voice.wav"
    subprocess.run(["flite", "-t", "where is my order one two three four five", "-o", str(wav)], check=True)
    sender = sender_id()
    reply = requests.post(
        webhook(rest_server),
        data={"sender": sender},
        files={"file": ("voice.wav", wav.read_bytes(), "audio/wav")},
        timeout=180,
    )
    assert reply.status_code == 200, reply.text
    (event,) = user_events(rest_server, sender)
    assert event["metadata"]["attachments"][0]["type"] == "audio"
    transcript = event["parse_data"].get("transcript") or {}
    assert "order" in (transcript.get("text") or "").lower(), event["parse_data"]
    # The transcript became the text the NLU read (the event keeps what the customer typed: nothing).
    assert "order" in event["parse_data"]["text"].lower()


def test_refused_uploads_get_a_clear_error_and_reach_nobody(rest_server: str) -> None:
    sender = sender_id()
    reply = requests.post(
        webhook(rest_server),
        data={"sender": sender, "message": "see attached"},
        files={"file": ("invoice.pdf", b"%PDF-1.7\n" + b"0" * 2000, "application/pdf")},
        timeout=60,
    )
    assert reply.status_code == 415
    error = reply.json()["error"]
    assert error["code"] == "unsupported_type"
    assert error["message"].startswith("invoice.pdf: I can't read that kind of file")

    noise = io.BytesIO()
    Image.effect_noise((400, 400), 90).convert("RGB").save(noise, "PNG")
    assert noise.tell() > MAX_IMAGE_BYTES
    reply = requests.post(
        webhook(rest_server),
        data={"sender": sender},
        files={"file": ("big.png", noise.getvalue(), "image/png")},
        timeout=60,
    )
    assert reply.status_code == 413
    assert "200 kB" in reply.json()["error"]["message"]

    reply = requests.post(
        webhook(rest_server),
        json={"sender": sender, "message": "x", "metadata": {"attachments": [{"data": "bm90IGEgcGhvdG8="}]}},
        timeout=60,
    )
    assert reply.status_code == 415
    reply = requests.post(webhook(rest_server), json={"sender": sender, "metadata": "nope"}, timeout=60)
    assert reply.status_code == 400
    assert user_events(rest_server, sender) == []


def test_upload_larger_than_any_cap_is_cut_off(rest_server: str) -> None:
    too_big = b"\x89PNG\r\n\x1a\n" + os.urandom(21_000_000)
    reply = requests.post(
        webhook(rest_server),
        data={"sender": sender_id()},
        files={"file": ("huge.png", too_big, "image/png")},
        timeout=120,
    )
    assert reply.status_code == 413
    assert json.loads(reply.text)["error"]["code"] == "too_large"


def tracker_json(server: str, sender: str) -> str:
    return requests.get(f"{server}/conversations/{sender}/tracker", timeout=30).text


def test_a_60_kb_text_is_refused_at_once_and_the_server_keeps_answering(rest_server: str) -> None:
    sender = sender_id()
    words = " ".join(["parcel"] * 10_000)  # about 60 KB, 10,000 words
    reply = requests.post(webhook(rest_server), json={"sender": sender, "message": words}, timeout=60)
    assert reply.status_code == 413
    error = reply.json()["error"]
    assert error["code"] == "text_too_long" and "5,000 characters" in error["message"]
    assert user_events(rest_server, sender) == []
    again = requests.post(webhook(rest_server), json={"sender": sender, "message": "hello"}, timeout=120)
    assert again.status_code == 200 and again.json()


def test_deeply_nested_json_is_a_400_not_a_500(rest_server: str) -> None:
    depth = 100_000
    body = '{"sender": "deep", "message": "hi", "metadata": {"x": ' + "[" * depth + "]" * depth + "}}"
    reply = requests.post(
        webhook(rest_server), data=body, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "bad_request"


def test_junk_metadata_leaves_a_small_tracker(rest_server: str) -> None:
    sender = sender_id()
    junk = {f"key{i}": "x" * 1000 for i in range(860)}  # about 860 KB of unknown keys
    junk["attachments"] = [{"type": "image", "path": "data/media/images/wrong_item_cat.jpg", "blob": "y" * 100_000}]
    reply = requests.post(
        webhook(rest_server),
        json={"sender": sender, "message": "this is not what I ordered", "metadata": junk},
        timeout=120,
    )
    assert reply.status_code == 200 and reply.json()
    (event,) = user_events(rest_server, sender)
    kept = {k: v for k, v in event["metadata"].items() if k not in ("model_id", "assistant_id")}  # Rasa's own
    assert kept == {"attachments": [{"type": "image", "path": "data/media/images/wrong_item_cat.jpg"}]}
    assert len(tracker_json(rest_server, sender)) < 60_000


def test_a_data_uri_in_the_text_is_stored_not_kept_in_the_event(rest_server: str, upload_folder: str) -> None:
    sender = sender_id()
    data = SCREENSHOT.read_bytes()
    encoded = base64.b64encode(data).decode()
    text = f"I get this error when paying data:image/png;base64,{encoded}"
    reply = requests.post(webhook(rest_server), json={"sender": sender, "message": text}, timeout=120)
    assert reply.status_code == 200, reply.text
    assert encoded[:100] not in tracker_json(rest_server, sender)
    (event,) = user_events(rest_server, sender)
    assert event["text"] == "I get this error when paying"
    digest = hashlib.sha256(data).hexdigest()
    assert event["metadata"]["attachments"][0]["path"] == os.path.join(upload_folder, f"{digest}.png")
    assert [r["sha256"] for r in event["parse_data"]["media_references"]] == [digest]


def test_rest_cannot_speak_as_a_web_chat_or_slack_conversation(rest_server: str) -> None:
    for sender in ("webchat-" + "a" * 32 + "." + "b" * 32, "slack-U0123ABCD"):
        reply = requests.post(webhook(rest_server), json={"sender": sender, "message": "where is my order"}, timeout=60)
        assert reply.status_code == 403
        assert reply.json()["error"]["code"] == "sender_reserved"
        assert user_events(rest_server, sender) == []
