"""One home for how the browser tests start Debian's Chromium (headless, no network of its own).

Used by the web chat, Chinese web chat, agent workspace and cluster tests through Playwright's
sync API; they skip ("needs Debian's chromium") when ``CHROMIUM`` is not installed, and CI,
which installs it, fails them instead.
"""

import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing Chromium would fetch by itself (tests run with the network cut off).
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def fake_microphone_args(wav: Path) -> Sequence[str]:
    """Flags that make getUserMedia record ``wav`` once, without a permission prompt."""
    return ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop")


@contextlib.contextmanager
def persistent_page(playwright: Any, profile: Path, extra_args: Sequence[str] = (), **options: Any) -> Iterator[Any]:
    """A page of a Chromium with its own profile (its own chat session), closed afterwards;
    ``options`` go to launch_persistent_context (locale, viewport, ...)."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True,
        args=[*CHROMIUM_ARGS, *extra_args], **{"viewport": {"width": 900, "height": 800}, **options},
    )
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(120_000)
    try:
        yield page
    finally:
        context.close()
