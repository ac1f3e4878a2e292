"""A web chat socket for tests, as the page's script opens one (socket.io long-polling)."""

import queue
import threading
import time
from typing import Any, Dict, Tuple

import socketio


class Chat:
    """One web chat socket: its confirmed session and the events it received, in order."""

    def __init__(self, server: str, token: str = None) -> None:
        self.events: "queue.Queue[Tuple[str, Any]]" = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        for name in ("session_confirm", "bot_uttered", "webchat_error"):
            self.client.on(name, lambda data, name=name: self.events.put((name, data)))
        auth = {"token": token} if token is not None else None
        self.client.connect(server, socketio_path="/socket.io", transports=["polling"], auth=auth)
        self.session = ""

    def request_session(self, session_id: Any = None) -> str:
        self.client.emit("session_request", {"session_id": session_id})
        self.session = self.next("session_confirm")
        return self.session

    def next(self, name: str, timeout: float = 120, refuse_errors: bool = False) -> Any:
        """The data of the next event called ``name`` (other events are skipped; with
        ``refuse_errors`` a ``webchat_error`` on the way fails the test)."""
        deadline = time.monotonic() + timeout
        while True:
            event, data = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            if event == name:
                return data
            assert not (refuse_errors and event == "webchat_error"), data

    def say(self, text: str, session_id: str = "", metadata: Dict[str, Any] = None) -> None:
        payload: Dict[str, Any] = {"message": text, "session_id": session_id or self.session}
        if metadata is not None:
            payload["metadata"] = metadata
        self.client.emit("user_uttered", payload)

    def close(self) -> None:
        """Disconnects in the background: the client sends the close at once but then waits for
        the long-poll in flight to come back (up to the server's ping interval, 25 s)."""
        threading.Thread(target=self.client.disconnect, daemon=True).start()
