"""The agent workspace and the web chat in one real headless Chromium with two contexts (a
customer and an agent) against a real `rasa run` and action server: the customer sends a photo and
a voice message and asks for a person; the agent, signed in, sees the ticket appear without
reloading, opens it (photo inline, voice transcript), claims it and replies; the reply reaches the
customer live and the customer's answer reaches the agent live; the agent hands back and the
assistant answers the customer again. Screenshots of every step go to test-artifacts/workspace/."""

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator, List

import pytest
import requests

from tests.browser import CHROMIUM, CHROMIUM_ARGS, fake_microphone_args
from tests.conftest import ARTIFACTS, ROOT
from tests.workspace_server import PASSWORD, add_agent, seed_conversations, workspace_server

PHOTO = ROOT / "data" / "media" / "images" / "damaged_parcel_dented.jpg"
SHOTS = ARTIFACTS / "workspace"
REPLY = "Hello, this is Erin from customer service. I can see the dented parcel."
ANSWER = "Thank you Erin, the mug inside is broken too."

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def server(trained_assistant: Path, action_server: str, shop_database_url: str, upload_folder: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    add_agent(shop_database_url, "erin", "admin")
    folder = tmp_path_factory.mktemp("workspace-browser")
    tracker_db = folder / "tracker.sqlite3"
    seed_conversations(tracker_db)  # so the analytics page has a month of history to show
    with workspace_server(trained_assistant, action_server, shop_database_url, folder, upload_folder,
                          tracker_db) as url:
        yield url


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("voice")
    raw, wav = folder / "raw.wav", folder / "mic.wav"
    subprocess.run(["flite", "-t", "where is my order one two three four five", "-o", str(raw)], check=True)
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", str(wav), "pad", "0.3", "1.5"], check=True)
    return wav


@pytest.fixture(scope="module")
def browser(spoken_wav: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, *fake_microphone_args(spoken_wav)],
        )
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def bot_texts(page: Any) -> List[str]:
    return page.locator(".message.bot").all_inner_texts()


def wait_for_bot_count(page: Any, count: int, timeout: float = 120) -> None:
    page.locator(".message.bot").nth(count - 1).wait_for(state="attached", timeout=timeout * 1000)


def send_text(page: Any, text: str) -> None:
    before = len(bot_texts(page))
    page.fill("#text-input", text)
    page.keyboard.press("Enter")
    wait_for_bot_count(page, before + 1)
    page.wait_for_timeout(1500)  # a turn may have several bot messages


def test_customer_and_agent_in_two_browser_contexts(server: str, browser: Any) -> None:
    customer_context = browser.new_context(viewport={"width": 800, "height": 900})
    customer_context.grant_permissions(["microphone"], origin=server)
    agent_context = browser.new_context(viewport={"width": 1280, "height": 900})
    customer, agent = customer_context.new_page(), agent_context.new_page()
    for page in (customer, agent):
        page.set_default_timeout(120_000)
    errors: List[str] = []
    agent.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url', '')}") if m.type == "error" else None)

    # The agent signs in (a wrong password first) and watches the queue.
    agent.goto(f"{server}/webhooks/workspace/")
    agent.wait_for_selector("#sign-in")
    shot(agent, "01-sign-in")
    agent.fill("#name", "erin")
    agent.fill("#password", "not my password")
    agent.click("#sign-in")
    assert "Wrong name or password" in agent.locator("#login-error").inner_text()
    agent.fill("#name", "erin")
    agent.fill("#password", PASSWORD)
    agent.click("#sign-in")
    agent.wait_for_selector("#queue-rows")
    assert "erin (admin)" in agent.locator("#signed-in-as").inner_text()
    shot(agent, "02-queue")

    # The customer: text, a photo, a voice message, then asks for a person.
    customer.goto(f"{server}/webhooks/webchat/")
    customer.wait_for_selector("body[data-session-id]:not([data-session-id=''])", state="attached")
    session_id = customer.evaluate("document.body.getAttribute('data-session-id')")
    send_text(customer, "hello")
    before = len(bot_texts(customer))
    customer.set_input_files("#file-input", str(PHOTO))
    customer.wait_for_selector("#pending li[data-state='ready']")
    customer.fill("#text-input", "my parcel arrived dented")
    customer.click("#send-button")
    wait_for_bot_count(customer, before + 1)
    customer.wait_for_timeout(1500)
    before = len(bot_texts(customer))
    customer.click("#record-button")
    customer.wait_for_selector("#record-button[aria-pressed='true']")
    customer.wait_for_timeout(5500)
    customer.click("#record-button")
    wait_for_bot_count(customer, before + 1)
    customer.wait_for_timeout(1500)
    send_text(customer, "I want to talk to a real person")
    assert "ticket TCK-" in bot_texts(customer)[-1]
    shot(customer, "03-customer-handed-off")

    # The ticket appears in the agent's queue without a reload, counted in the title.
    row = agent.locator(f"tr.ticket:has(a[href$='/conversations/{session_id}'])")
    row.wait_for(timeout=60_000)
    assert "photo" in row.inner_text() and "voice" in row.inner_text() and "unclaimed" in row.inner_text()
    assert agent.title().startswith("(")
    shot(agent, "04-queue-new-ticket")

    # The conversation: the photo inline (through the authenticated route), the voice transcript.
    row.locator("a").click()
    agent.wait_for_selector("#turns")
    photo = agent.locator("#turns img.photo").first
    photo.wait_for()
    for _ in range(100):
        if photo.evaluate("img => img.complete && img.naturalWidth") > 0:
            break
        agent.wait_for_timeout(100)
    assert photo.evaluate("img => img.naturalWidth") > 0
    assert agent.locator("#turns audio.voice").count() == 1
    assert "order" in agent.locator("#turns .transcript").first.inner_text().lower()
    assert "intent" in agent.locator("#turns .nlu").first.inner_text()
    shot(agent, "05-conversation")

    # Claim and reply: the reply reaches the customer's open page.
    agent.click("#claim")
    agent.wait_for_selector("#reply-text")
    assert agent.locator("#claimed-by").inner_text() == "erin"
    before = len(bot_texts(customer))
    agent.fill("#reply-text", REPLY)
    agent.click("#send-reply")
    wait_for_bot_count(customer, before + 1, timeout=30)
    assert bot_texts(customer)[-1].endswith(REPLY)
    agent.wait_for_selector("#turns .turn.agent")
    shot(agent, "06-agent-replied")
    shot(customer, "07-customer-sees-reply")

    # The customer answers; the bot stays silent and the agent sees the answer live.
    bots = len(bot_texts(customer))
    customer.fill("#text-input", ANSWER)
    customer.keyboard.press("Enter")
    agent.locator("#turns .turn.customer", has_text=ANSWER).wait_for(timeout=60_000)
    assert len(bot_texts(customer)) == bots
    shot(agent, "08-agent-sees-answer")

    # Hand back: the assistant answers the customer's next message.
    agent.click("#hand-back")
    agent.wait_for_selector("#claim-state")
    assert "the assistant answers" in agent.locator("#claim-state").inner_text()
    shot(agent, "09-handed-back")
    send_text(customer, "hello")
    assert not bot_texts(customer)[-1].endswith(REPLY) and len(bot_texts(customer)) > bots
    shot(customer, "10-bot-answers-again")

    tracker = requests.get(f"{server}/conversations/{session_id}/tracker", timeout=30).json()
    agent_turns = [e for e in tracker["events"] if e["event"] == "bot" and (e.get("metadata") or {}).get("agent") == "erin"]
    assert [e["text"] for e in agent_turns] == [REPLY]

    # The admin's analytics page (charts drawn by the server).
    agent.goto(f"{server}/webhooks/workspace/analytics?start=2026-11-01&end=2026-11-10")
    agent.wait_for_selector("#kpi-conversations")
    assert agent.locator("#kpi-conversations").inner_text() == "200"
    for chart in agent.locator("img.chart").all():
        chart.scroll_into_view_if_needed()
    agent.wait_for_timeout(2000)
    shot(agent, "11-analytics")
    # Chromium logs the wrong password's 401 and its own favicon request; nothing else may fail.
    unexpected = [e for e in errors if not e.endswith(("/webhooks/workspace/login", "/favicon.ico"))]
    assert not unexpected, errors
    customer_context.close()
    agent_context.close()
