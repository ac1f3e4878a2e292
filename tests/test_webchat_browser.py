"""Web chat in a real headless Chromium against a real `rasa run` with WebChatInput: text, a photo
upload, a refused upload, a voice message from a fake microphone, and a reload that keeps the
conversation. Screenshots of every step go to test-artifacts/webchat/."""

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, List

import pytest
import requests

from tests.browser import CHROMIUM, fake_microphone_args, persistent_page
from tests.conftest import ARTIFACTS, ROOT, saved_user_events

PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_dented.jpg"
SHOTS = ARTIFACTS / "webchat"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def webchat_server(channel_server: Callable[[str, str], ContextManager[str]], upload_folder: str) -> Iterator[str]:
    credentials = (
        "components.channels.webchat.WebChatInput:\n"
        f"  session_persistence: true\n  media_folder: {upload_folder}\n"
    )
    with channel_server("webchat", credentials) as url:
        yield url


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone says (flite, resampled to 48 kHz as a capture device would)."""
    folder = tmp_path_factory.mktemp("voice")
    raw, wav = folder / "raw.wav", folder / "mic.wav"
    subprocess.run(["flite", "-t", "where is my order one two three four five", "-o", str(raw)], check=True)
    # One second of silence after the sentence, so stopping at any time after it keeps every word.
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", str(wav), "pad", "0.3", "1.5"], check=True)
    return wav


@pytest.fixture(scope="module")
def browser_page(webchat_server: str, spoken_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        with persistent_page(playwright, profile, fake_microphone_args(spoken_wav)) as page:
            page.context.grant_permissions(["microphone"], origin=webchat_server)
            yield page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def bot_texts(page: Any) -> List[str]:
    return page.locator(".message.bot").all_inner_texts()


def wait_for_bot_count(page: Any, count: int, timeout: float = 120) -> None:
    """Waits for the count-th bot message with a locator (the page's CSP forbids the eval that
    page.wait_for_function would use; Playwright's selector engine is not affected)."""
    page.locator(".message.bot").nth(count - 1).wait_for(state="attached", timeout=timeout * 1000)


def test_web_chat_text_photo_voice_and_reload(
    webchat_server: str, browser_page: Any, upload_folder: str, tmp_path: Path
) -> None:
    page = browser_page
    console_errors: List[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{webchat_server}/webhooks/webchat/")
    page.wait_for_selector("body[data-session-id]:not([data-session-id=''])", state="attached")
    assert page.locator("#connection").inner_text() == "Connected"
    session_id = page.evaluate("document.body.getAttribute('data-session-id')")
    shot(page, "01-loaded")

    # 1. Text.
    page.fill("#text-input", "hello")
    page.keyboard.press("Enter")
    wait_for_bot_count(page, 1)
    text_reply = bot_texts(page)[-1]
    assert "virtual assistant" in text_reply
    shot(page, "02-text-reply")

    # 2. A photo from the file picker, sent without text.
    before = len(bot_texts(page))
    page.set_input_files("#file-input", str(PHOTO))
    page.wait_for_selector("#pending li[data-state='ready']")
    shot(page, "03-photo-attached")
    page.click("#send-button")
    wait_for_bot_count(page, before + 1)
    page.wait_for_timeout(1500)  # a turn may have several bot messages
    photo_reply = "\n".join(bot_texts(page)[before:])
    assert photo_reply and photo_reply != text_reply
    assert page.locator(".message.user img").count() == 1
    shot(page, "04-photo-reply")
    events = saved_user_events(webchat_server, session_id, 2)
    photo_event = events[-1]
    digest = hashlib.sha256(PHOTO.read_bytes()).hexdigest()
    assert photo_event["input_channel"] == "webchat"
    assert photo_event["metadata"]["attachments"] == [
        {"type": "image", "path": os.path.join(upload_folder, f"{digest}.jpg"), "mime": "image/jpeg", "name": PHOTO.name}
    ]
    assert [r["sha256"] for r in photo_event["parse_data"]["media_references"]] == [digest]

    # 3. A file that is not media: refused with a clear message, nothing sent.
    fake = tmp_path / "notes.jpg"
    fake.write_text("these are my notes, not a photo\n" * 20)
    page.set_input_files("#file-input", str(fake))
    page.wait_for_selector("#alert:not([hidden])")
    assert "I can't read that kind of file" in page.locator("#alert").inner_text()
    assert page.locator("#pending li").count() == 0
    shot(page, "05-upload-refused")

    # 4. A voice message from the fake microphone.
    before = len(bot_texts(page))
    page.click("#record-button")
    page.wait_for_selector("#record-button[aria-pressed='true']")
    page.wait_for_timeout(5500)
    shot(page, "06-recording")
    page.click("#record-button")
    wait_for_bot_count(page, before + 1)
    page.wait_for_timeout(1500)
    voice_reply = "\n".join(bot_texts(page)[before:])
    assert page.locator(".message.user audio").count() == 1
    shot(page, "07-voice-reply")
    voice_event = saved_user_events(webchat_server, session_id, 3)[-1]
    assert voice_event["metadata"]["attachments"][0]["type"] == "audio"
    assert voice_event["metadata"]["attachments"][0]["mime"] in ("audio/webm", "audio/ogg")
    transcript = voice_event["parse_data"].get("transcript") or {}
    assert "order" in (transcript.get("text") or "").lower(), voice_event["parse_data"]
    assert voice_reply != text_reply

    # 5. Reload: same session, history shown, the conversation continues.
    shown = page.locator(".message").count()
    page.reload()
    page.wait_for_selector(f"body[data-session-id='{session_id}']", state="attached")
    assert page.locator(".message").count() == shown
    before = len(bot_texts(page))
    page.fill("#text-input", "thanks")
    page.click("#send-button")
    wait_for_bot_count(page, before + 1)
    shot(page, "08-after-reload")
    texts = [e["text"] for e in saved_user_events(webchat_server, session_id, 4)]
    assert texts[0] == "hello" and texts[-1] == "thanks" and len(texts) == 4
    # The refused upload's 415 is logged by Chromium as a failed resource; nothing else may fail.
    assert not [e for e in console_errors if "status of 415" not in e], console_errors


def test_page_and_static_files_are_served_locally(webchat_server: str) -> None:
    page = requests.get(f"{webchat_server}/webhooks/webchat/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text.replace(webchat_server, "") and "cdn" not in page.text.lower()
    client = requests.get(f"{webchat_server}/webhooks/webchat/static/socket.io.min.js", timeout=10)
    assert client.status_code == 200 and client.text.startswith("/*!\n * Socket.IO v4.")
    assert requests.get(f"{webchat_server}/webhooks/webchat/static/..%2Fwebchat.py", timeout=10).status_code == 404
    assert requests.get(f"{webchat_server}/webhooks/webchat/health", timeout=10).json() == {"status": "ok"}
