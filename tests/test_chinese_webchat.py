"""The web chat page in Chinese, in a real headless Chromium against a real `rasa run`: a browser
set to Chinese gets the page in Chinese and the assistant's answers in Chinese; the switch turns
the page to English and the choice survives a reload. Screenshots go to test-artifacts/webchat/."""

import os
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import pytest

from tests.browser import CHROMIUM, persistent_page
from tests.conftest import ARTIFACTS

SHOTS = ARTIFACTS / "webchat"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def webchat_server(channel_server: Callable[[str, str], ContextManager[str]], upload_folder: str) -> Iterator[str]:
    credentials = (
        "components.channels.webchat.WebChatInput:\n"
        f"  session_persistence: true\n  media_folder: {upload_folder}\n"
    )
    with channel_server("webchat-zh", credentials) as url:
        yield url


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """One Playwright driver for the module (the sync API allows only one at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def _chinese_browser(playwright: Any, profile: Path) -> ContextManager[Any]:
    """A headless Chromium set to Chinese (zh-CN) with its own profile (own chat session)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return persistent_page(playwright, profile, ["--lang=zh-CN"], locale="zh-CN")


@pytest.fixture(scope="module")
def chinese_page(
    webchat_server: str, playwright: Any, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    with _chinese_browser(playwright, tmp_path_factory.mktemp("chromium-profile-zh")) as page:
        yield page


def test_a_chinese_browser_gets_the_page_and_the_answers_in_chinese(chinese_page: Any, webchat_server: str) -> None:
    page = chinese_page
    page.goto(f"{webchat_server}/webhooks/webchat/")
    page.locator("#connection", has_text="已连接").wait_for(timeout=60_000)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#send-button").inner_text() == "发送"
    assert page.locator("#text-input").get_attribute("placeholder").startswith("输入消息")
    assert page.locator("#record-button").get_attribute("title") == "录制语音消息"

    page.fill("#text-input", "我的订单12345在哪里？")
    page.click("#send-button")
    page.locator(".message.bot").first.wait_for(state="attached", timeout=120_000)
    answer = page.locator(".message.bot").first.inner_text()
    assert "邮箱" in answer, answer  # the ownership check, asked in Chinese
    page.screenshot(path=str(SHOTS / "chinese-page.png"), full_page=True)


def test_the_switch_turns_the_page_to_english_and_the_choice_survives_a_reload(
    chinese_page: Any, webchat_server: str,
) -> None:
    page = chinese_page
    page.goto(f"{webchat_server}/webhooks/webchat/")
    page.click("#language-switch")
    assert page.locator("#send-button").inner_text() == "Send"
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#language-switch").inner_text() == "中文"
    page.reload()
    page.locator("#connection", has_text="Connected").wait_for(timeout=60_000)
    assert page.locator("#send-button").inner_text() == "Send"
    page.click("#language-switch")
    assert page.locator("#send-button").inner_text() == "发送"


def test_a_mandarin_voice_message_as_the_first_message_is_answered_in_chinese(
    webchat_server: str, playwright: Any, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """No text yet, so no conversation language: the page's language (zh) sends the clip to the
    Mandarin recogniser, and the order question is answered with the check, in Chinese."""
    clip = Path(__file__).resolve().parents[1] / "data" / "media" / "heldout" / "voice" / "zh_where_is_my_order_12345.ogg"
    with _chinese_browser(playwright, tmp_path_factory.mktemp("chromium-profile-zh-voice")) as page:
        page.goto(f"{webchat_server}/webhooks/webchat/")
        page.locator("#connection", has_text="已连接").wait_for(timeout=60_000)
        page.set_input_files("#file-input", str(clip))
        page.wait_for_selector("#pending li[data-state='ready']")
        page.click("#send-button")
        page.locator(".message.bot").first.wait_for(state="attached", timeout=180_000)
        answer = page.locator(".message.bot").first.inner_text()
        page.screenshot(path=str(SHOTS / "chinese-voice.png"), full_page=True)
    assert "邮箱" in answer, answer
