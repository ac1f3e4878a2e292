"""Shared set-up of the agent workspace tests: a real `rasa run` with the web chat, REST and
workspace channels on an SQL tracker store, agent accounts made by the real CLI, a signed-in HTTP
client, and a scripted seed of conversations written through Rasa's own SQLTrackerStore."""

import asyncio
import contextlib
import datetime as dt
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import requests

from bench import servers
from tests.conftest import ROOT

PASSWORD = "a long enough password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


SLACK_BOT_TOKEN = "xoxb-workspace-test-token"
SLACK_SIGNING_SECRET = "workspace-test-signing-secret"


def credentials_text(upload_folder: str, slack_api_url: Optional[str] = None) -> str:
    """REST, web chat and the workspace (and Slack, against a fake Slack API at ``slack_api_url``)."""
    text = (
        "components.channels.rest.MediaRestInput:\n"
        f"  media_folder: {upload_folder}\n"
        "components.channels.webchat.WebChatInput:\n"
        f"  session_persistence: true\n  media_folder: {upload_folder}\n"
        "components.workspace.channel.AgentWorkspaceInput:\n"
        f"  media_folders: [{upload_folder}]\n  live_poll_s: 0.5\n"
    )
    if slack_api_url:
        text += (f"  slack_token: {SLACK_BOT_TOKEN}\n  slack_api_url: {slack_api_url}\n"
                 "components.channels.slack.SlackMediaInput:\n"
                 f"  slack_token: {SLACK_BOT_TOKEN}\n  slack_signing_secret: {SLACK_SIGNING_SECRET}\n"
                 f"  slack_api_url: {slack_api_url}\n  media_folder: {upload_folder}\n")
    return text


def endpoints_text(action_server: str, tracker_db: Path) -> str:
    return (servers.endpoints_text(action_server)
            + f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {tracker_db}\n")


@contextlib.contextmanager
def workspace_server(model: Path, action_server: str, shop_url: str, folder: Path,
                     upload_folder: str, tracker_db: Path, slack_api_url: Optional[str] = None) -> Iterator[str]:
    """`rasa run` with REST, web chat and the workspace (and Slack), sharing the action server's
    shop database."""
    (folder / "credentials.yml").write_text(credentials_text(upload_folder, slack_api_url))
    (folder / "endpoints.yml").write_text(endpoints_text(action_server, tracker_db))
    with servers.rasa_server(model, folder / "credentials.yml", folder / "endpoints.yml",
                             folder / "rasa-server.log", SHOP_DATABASE_URL=shop_url,
                             MM_SESSION_SECRET="workspace-tests-secret") as service:
        yield service.wait_until_up(300)


def add_agent(shop_url: str, name: str, role: str = "agent", password: str = PASSWORD) -> None:
    """``scripts/agent add-user`` (its Python entry point) with the password on standard input."""
    result = subprocess.run(
        [sys.executable, "-m", "actions.agent", "add-user", name, "--role", role, "--password-stdin"],
        input=password + "\n", text=True, capture_output=True, cwd=ROOT, timeout=120,
        env=servers.service_env(SHOP_DATABASE_URL=shop_url),
    )
    assert result.returncode == 0, result.stderr


class AgentClient:
    """An agent's browser-like HTTP session with the workspace."""

    def __init__(self, server: str) -> None:
        self.base = f"{server}/webhooks/workspace"
        self.http = requests.Session()
        self.csrf: Optional[str] = None

    def sign_in(self, name: str, password: str = PASSWORD) -> requests.Response:
        form = self.http.get(f"{self.base}/login", headers={"Accept": "text/html"}, timeout=30)
        token = CSRF.search(form.text).group(1)
        answer = self.http.post(f"{self.base}/login", data={"csrf_token": token, "name": name, "password": password},
                                headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
        if answer.status_code == 303:
            page = self.http.get(f"{self.base}/queue", headers={"Accept": "text/html"}, timeout=30)
            self.csrf = CSRF.search(page.text).group(1)
        return answer

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=60, **kwargs)

    def post(self, path: str, data: Optional[Dict[str, str]] = None, csrf: bool = True) -> requests.Response:
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf or ""
        return self.http.post(self.base + path, data=data, headers={"Accept": "application/json"},
                              allow_redirects=False, timeout=120)


SEED_FIRST_DAY = dt.date(2026, 11, 1)
SEED_DAYS = 10
SPIKE_DAY = 3


def seed_conversations(tracker_db: Path, count: int = 200, seed: int = 15) -> None:
    """``count`` scripted conversations over SEED_DAYS days from SEED_FIRST_DAY, saved with Rasa's
    SQLTrackerStore: greetings, order questions, photos, voice messages, refused files, fallbacks
    and complaints that end in a hand-off, on the web chat and REST channels."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    rng = random.Random(seed)
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tracker_db))

    def user(text: str, intent: str, sentiment: str, when: float, channel: str, **extra: Any) -> UserUttered:
        parse_data = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [],
                      "sentiment": {"label": sentiment, "confidence": 0.8}, **extra}
        return UserUttered(text, parse_data["intent"], [], parse_data, timestamp=when, input_channel=channel)

    async def save_all() -> None:
        for i in range(count):
            channel = "webchat" if i % 3 else "rest"
            day = SEED_FIRST_DAY + dt.timedelta(days=i % SEED_DAYS)
            start = dt.datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(50),
                                tzinfo=dt.timezone.utc).timestamp()
            t = iter(start + 5 * k for k in range(100))
            events: List[Any] = [ActionExecuted("action_listen", timestamp=next(t)),
                                 user("hello", "greet", "neutral", next(t), channel),
                                 BotUttered("Hi!", timestamp=next(t))]
            kind = rng.choice(["order", "photo", "voice", "fallback", "complaint", "error"])
            if i % SEED_DAYS == SPIKE_DAY:
                kind = "complaint"  # a bad day: the negative share spikes over the alert line
            if kind == "order":
                events.append(user("where is my order 12345", "order_status", rng.choice(["neutral", "positive"]), next(t), channel))
            elif kind == "photo":
                events.append(user("it arrived broken", "damaged_item", "negative", next(t), channel,
                                   media_references=[{"type": "image", "sha256": f"{i:064x}", "mime": "image/jpeg", "source": "x"}]))
            elif kind == "voice":
                events.append(user("where is my parcel", "order_status", "neutral", next(t), channel,
                                   media_references=[{"type": "audio", "sha256": f"{i:064x}", "mime": "audio/wav", "source": "x"}],
                                   transcript={"text": "where is my parcel"}))
            elif kind == "error":
                code = rng.choice(["unsupported_type", "too_large"])
                events.append(user("", "nlu_fallback", "neutral", next(t), channel,
                                   attachment_errors=[{"source": "f", "code": code, "message": "m"}]))
                events.append(ActionExecuted("action_clarify_or_fallback", timestamp=next(t)))
            elif kind == "fallback":
                events.append(user("blorp", "nlu_fallback", "neutral", next(t), channel))
                events.append(ActionExecuted("action_clarify_or_fallback", timestamp=next(t)))
            if kind == "complaint" or (kind == "photo" and i % 2):
                events.append(user("this is terrible", "complaint", "negative", next(t), channel))
                events.append(ActionExecuted("action_handoff_to_human", timestamp=next(t)))
            tracker = DialogueStateTracker.from_events(f"seed-{channel}-{i:03d}", events)
            await store.save(tracker)

    asyncio.run(save_all())
    store.engine.dispose()
