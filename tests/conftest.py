"""Shared test set-up: offline, no telemetry, a private Rasa cache, Rasa component fixtures, and
(session-wide, trained once) the reference assistant served over the REST channel with its
action server, for conversation tests.
"""

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, ContextManager, Dict, Iterator, List, Optional

from bench import servers

# Before anything imports rasa, transformers or TensorFlow: this process and every server it
# starts run offline, without telemetry, with a private Rasa cache.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="rasa-mm-tests-"))
os.environ.update(servers.service_env(RASA_CACHE_DIRECTORY=str(_SESSION_TMP / "rasa-cache")))

import pytest  # noqa: E402
import requests  # noqa: E402

ROOT = servers.ROOT
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture()
def model_storage(tmp_path: Path):
    """A real LocalModelStorage in a temp dir, like the one `rasa train` uses."""
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    path = tmp_path / "model-storage"
    path.mkdir()
    return LocalModelStorage(path)


@pytest.fixture()
def execution_context():
    """Factory for an ExecutionContext as the graph runner builds it."""
    from rasa.engine.graph import ExecutionContext, GraphSchema

    def make(node_name: str = "component") -> ExecutionContext:
        return ExecutionContext(GraphSchema({}), model_id="test", node_name=node_name)

    return make


@pytest.fixture()
def resource():
    """Factory for a fresh Resource name."""
    from rasa.engine.storage.resource import Resource

    counter = iter(range(1_000_000))
    return lambda name="component": Resource(f"{name}{next(counter)}")


@pytest.fixture(scope="session")
def shop_database_url() -> str:
    """The action server's real SQLite database for this test session."""
    return f"sqlite:///{_SESSION_TMP / 'shop.sqlite3'}"


@pytest.fixture(scope="session")
def trained_assistant() -> Path:
    """The reference assistant trained once per session with `rasa train` (real pipeline).

    While developing, MM_TEST_MODEL=<model.tar.gz> reuses a model trained from the same files.
    """
    if os.environ.get("MM_TEST_MODEL"):
        return Path(os.environ["MM_TEST_MODEL"])
    from rasa.model_training import train

    result = train(
        domain=str(ROOT / "domain.yml"),
        config=str(ROOT / "config.yml"),
        training_files=[str(ROOT / "data")],
        output=str(_SESSION_TMP / "models"),
        fixed_model_name="assistant",
    )
    assert result.code == 0 and result.model, f"rasa train failed with code {result.code}"
    return Path(result.model)


@pytest.fixture(scope="session")
def action_server(shop_database_url: str) -> Iterator[str]:
    """The real rasa-sdk action server against the session's SQLite database (its base URL)."""
    with servers.action_server(shop_database_url, _SESSION_TMP / "action-server.log") as service:
        yield service.wait_until_up(120)


@contextlib.contextmanager
def serve_rasa(model: Path, credentials: str, action_server: str, folder: Path) -> Iterator[str]:
    """`rasa run` with the HTTP API, the given credentials.yml text and the action server's base
    URL; yields Rasa's base URL."""
    (folder / "credentials.yml").write_text(credentials)
    (folder / "endpoints.yml").write_text(servers.endpoints_text(action_server))
    with servers.rasa_server(
        model, folder / "credentials.yml", folder / "endpoints.yml", folder / "rasa-server.log"
    ) as service:
        yield service.wait_until_up(300)


@pytest.fixture(scope="module")
def channel_server(
    trained_assistant: Path, action_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], ContextManager[str]]:
    """``with channel_server(name, credentials_yml_text) as url``: the assistant served by `rasa
    run` with only these channels, for a channel test module."""

    @contextlib.contextmanager
    def start(name: str, credentials: str) -> Iterator[str]:
        folder = tmp_path_factory.mktemp(name)
        with serve_rasa(trained_assistant, credentials, action_server, folder) as url:
            yield url

    return start


@pytest.fixture(scope="session")
def rasa_server(trained_assistant: Path, action_server: str) -> Iterator[str]:
    """The project's `rasa run` (its credentials.yml: REST and web chat), wired to the action server."""
    folder = _SESSION_TMP / "rasa-server"
    folder.mkdir(exist_ok=True)
    with serve_rasa(trained_assistant, (ROOT / "credentials.yml").read_text(), action_server, folder) as url:
        yield url


@pytest.fixture()
def say(rasa_server: str) -> Callable[..., List[Dict]]:
    """Sends one customer message through the REST channel; returns the bot's replies."""

    def send(sender: str, text: str, metadata: Optional[Dict] = None) -> List[Dict]:
        payload = {"sender": sender, "message": text}
        if metadata is not None:
            payload["metadata"] = metadata
        response = requests.post(f"{rasa_server}/webhooks/rest/webhook", json=payload, timeout=120)
        response.raise_for_status()
        return response.json()

    return send


def reply_text(replies: List[Dict]) -> str:
    """All bot texts of one turn, joined, for assertions."""
    return "\n".join(r.get("text", "") for r in replies)


def saved_user_events(server: str, sender: str, count: int, timeout: float = 60,
                      token: Optional[str] = None) -> List[Dict]:
    """A conversation's user events once at least ``count`` are saved (bounded by ``timeout``).

    Rasa saves a turn's tracker after its replies went out (and after predicting the next action
    in a worker thread), so a test that saw the reply must wait for the save before reading."""
    deadline = time.monotonic() + timeout
    while True:
        params = {"token": token} if token else None
        tracker = requests.get(f"{server}/conversations/{sender}/tracker", params=params, timeout=30).json()
        events = [e for e in tracker.get("events", []) if e.get("event") == "user"]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a test skipped for a missing system tool fails: CI installs every tool it needs."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if "needs " in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where every tool must be installed: {reason}"


@pytest.fixture(scope="module")
def upload_folder(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh media-store folder for one channel test module, inside ``var/media/uploads`` (the
    assistant's upload root), relative to the project as credentials.yml gives it; removed after."""
    import shutil
    import uuid

    module = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    folder = os.path.join("var", "media", "uploads", f"{module}-{uuid.uuid4().hex[:8]}")
    yield folder
    shutil.rmtree(ROOT / folder, ignore_errors=True)
