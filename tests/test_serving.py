"""Serving real customers: `scripts/serve`, conversations that survive a restart, and text that
never waits behind another conversation's media.

Real processes throughout: `scripts/serve` itself, `rasa run` with the SQL tracker store on SQLite
(and on PostgreSQL when ``TEST_POSTGRES_URL`` is set, as in CI), the real action server, and a real
voice message transcribed by Whisper.
"""

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

from bench import servers
from tests.conftest import ROOT, reply_text, serve_rasa
from tests.speech_utils import concat_wav, flite_wav, have

TOKEN = "serving-test-token"
HANDOFF_TURNS = ["I want to talk to a real person"]


def _sender(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _post(url: str, sender: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict]:
    payload: Dict[str, Any] = {"sender": sender, "message": text}
    if metadata:
        payload["metadata"] = metadata
    response = requests.post(f"{url}/webhooks/rest/webhook", json=payload, timeout=300)
    response.raise_for_status()
    return response.json()


def _tracker(url: str, sender: str) -> Dict[str, Any]:
    response = requests.get(f"{url}/conversations/{sender}/tracker", params={"token": TOKEN}, timeout=30)
    response.raise_for_status()
    return response.json()


def _port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# ---- scripts/serve --------------------------------------------------------------------------


def test_serve_starts_both_servers_protects_the_api_and_stops_on_sigint(
    trained_assistant: Path, tmp_path: Path
) -> None:
    rasa_port, actions_port = servers.free_port(), servers.free_port()
    env = servers.service_env(
        RASA_PORT=str(rasa_port),
        ACTIONS_PORT=str(actions_port),
        RASA_TOKEN=TOKEN,
        LOG_DIR=str(tmp_path / "log"),
        TRACKER_DATABASE_URL=f"sqlite:///{tmp_path / 'tracker.sqlite3'}",
        SHOP_DATABASE_URL=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
    )
    serve = subprocess.Popen(
        ["scripts/serve", "--model", str(trained_assistant)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    printed: List[str] = []
    try:
        for line in serve.stdout:  # ends when serve exits; "ready" comes once both answer
            printed.append(line)
            if "[serve] ready" in line:
                break
        assert serve.poll() is None, "".join(printed)
        url = f"http://127.0.0.1:{rasa_port}"
        for line in serve.stdout:
            printed.append(line)
            if "Ctrl-C" in line:
                break
        output = "".join(printed)
        assert f"http://localhost:{rasa_port}/webhooks/webchat/" in output
        # Quiet: only our own progress lines, none of Rasa's or TensorFlow's.
        assert all(line.startswith("[") for line in printed), output
        assert "tensorflow" not in output.lower() and "deprecat" not in output.lower(), output

        assert "virtual assistant" in reply_text(_post(url, _sender("serve"), "hello"))
        page = requests.get(f"{url}/webhooks/webchat/", timeout=30)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert requests.get(f"{url}/conversations/x/tracker", timeout=30).status_code == 401
        assert requests.get(f"{url}/conversations/x/tracker", params={"token": TOKEN}, timeout=30).ok
        assert (tmp_path / "tracker.sqlite3").exists()  # conversations go to the SQL tracker store
    finally:
        serve.send_signal(signal.SIGINT)
        rest, _ = serve.communicate(timeout=120)
    assert serve.returncode == 0, "".join(printed) + rest
    assert "[serve] stopped" in rest
    assert _port_is_closed(rasa_port) and _port_is_closed(actions_port)


# ---- durability -----------------------------------------------------------------------------


def _tracker_backends() -> List[Any]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(
                not os.environ.get("TEST_POSTGRES_URL"),
                reason="set TEST_POSTGRES_URL (e.g. from scripts/postgres; CI starts PostgreSQL)",
            ),
        ),
    ]


class DurableRasa:
    """`rasa run` with an SQL tracker store; started and stopped as often as a test needs."""

    def __init__(self, model: Path, action_server: str, tracker_url: str, folder: Path) -> None:
        self.model, self.folder, self.starts = model, folder, 0
        self.endpoints = folder / "endpoints.yml"
        self.endpoints.write_text(
            servers.endpoints_text(action_server) + f"tracker_store:\n  type: SQL\n  url: {tracker_url}\n"
        )
        self.credentials = folder / "credentials.yml"
        self.credentials.write_text((ROOT / "credentials.yml").read_text())

    def run(self) -> servers.Service:
        self.starts += 1
        return servers.rasa_server(
            self.model, self.credentials, self.endpoints, self.folder / f"rasa-{self.starts}.log",
            extra_args=["--auth-token", TOKEN],
        )


@pytest.mark.parametrize("backend", _tracker_backends())
def test_a_paused_hand_off_survives_a_restart_and_an_agent_resumes_it(
    backend: str, trained_assistant: Path, action_server: str, shop_database_url: str, tmp_path: Path
) -> None:
    tracker_url = (
        f"sqlite:///{tmp_path / 'tracker.sqlite3'}" if backend == "sqlite" else os.environ["TEST_POSTGRES_URL"]
    )
    rasa = DurableRasa(trained_assistant, action_server, tracker_url, tmp_path)
    sender = _sender(f"durable-{backend}")
    with rasa.run() as service:
        url = service.wait_until_up(300)
        for text in HANDOFF_TURNS:
            replies = reply_text(_post(url, sender, text))
        assert "(ticket TCK-" in replies, replies
        reference = "TCK-" + replies.split("(ticket TCK-", 1)[1].split(")", 1)[0]
        assert _post(url, sender, "hello? is anyone there?") == []
        before = _tracker(url, sender)
        assert before["paused"] is True

    with rasa.run() as service:
        url = service.wait_until_up(300)
        after = _tracker(url, sender)
        assert after["paused"] is True
        assert [e["event"] for e in after["events"]] == [e["event"] for e in before["events"]]
        assert [e.get("text") for e in after["events"] if e["event"] == "user"] == HANDOFF_TURNS + [
            "hello? is anyone there?"
        ]
        env = servers.service_env(RASA_URL=url, RASA_TOKEN=TOKEN, SHOP_DATABASE_URL=shop_database_url)
        resumed = subprocess.run(
            [sys.executable, "-m", "actions.agent", "resume", reference],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert _tracker(url, sender)["paused"] is False
        assert "virtual assistant" in reply_text(_post(url, sender, "hi"))


# ---- text never waits behind media ----------------------------------------------------------

LONG_SENTENCE = (
    "Hello, I am calling about the parcel I ordered three weeks ago. It still has not arrived "
    "and the tracking page has not changed since last Monday, so I would like to know where it is. "
)


@pytest.fixture(scope="module")
def offload_server(trained_assistant: Path, action_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    folder = tmp_path_factory.mktemp("offload")
    with serve_rasa(trained_assistant, (ROOT / "credentials.yml").read_text(), action_server, folder) as url:
        yield {"url": url, "log": folder / "rasa-server.log"}


@pytest.mark.skipif(not have("flite"), reason="needs flite (Debian package flite) to speak the voice message")
def test_a_text_reply_is_not_held_while_another_conversations_voice_message_is_transcribed(
    offload_server: Dict[str, Any],
) -> None:
    url, log = offload_server["url"], offload_server["log"]
    voice = concat_wav(flite_wav(LONG_SENTENCE), 3)  # about 30 s of speech
    data_uri = "data:audio/wav;base64," + base64.b64encode(voice).decode()
    finished: List[str] = []
    voice_reply: List[Any] = []

    def send_voice() -> None:
        voice_reply.append(_post(url, _sender("voice"), "", {"attachments": [{"type": "audio", "data": data_uri}]}))
        finished.append("voice")

    marker_count = log.read_text().count("NLU media worker started")
    sender = threading.Thread(target=send_voice)
    sender.start()
    # Condition, not time: the server says its media worker has begun on the voice message.
    wait_for_log(log, "NLU media worker started", after=marker_count, process_alive=sender.is_alive)
    text_reply = _post(url, _sender("text"), "hello")
    finished.append("text")
    sender.join(timeout=300)

    assert finished == ["text", "voice"], finished
    assert "virtual assistant" in reply_text(text_reply)
    assert voice_reply and voice_reply[0], "the voice message got no reply"


def wait_for_log(log: Path, marker: str, after: int, process_alive: Any, limit: int = 600) -> None:
    """Waits (bounded) until ``marker`` appears in ``log`` more than ``after`` times."""
    event = threading.Event()
    for _ in range(limit):
        if log.read_text().count(marker) > after:
            return
        assert process_alive(), "the voice message was answered before the media worker started"
        event.wait(0.5)
    raise AssertionError(f"'{marker}' never appeared in {log}")
