"""Web chat emits across ``rasa run`` replicas: python-socketio's ``AsyncRedisManager``.

A browser's socket lives on one replica (HAProxy's sticky cookie keeps its long-polls there),
but a reply may be produced on another: an agent's answer posted to any replica, a trigger_intent
or reminder handled elsewhere. With ``SOCKETIO_REDIS_URL`` set (e.g. ``redis://redis:6379/2``;
the channel name ``SOCKETIO_REDIS_CHANNEL``, default ``webchat``), every emit is published on
Redis and the replica holding the socket delivers it. Without it the in-process manager stays
(one replica). Redis must be the same for every replica; a database apart from the lock store's
keeps the two easy to tell apart.
"""

import logging
import os
from typing import Any, Optional

logger = logging.getLogger(__name__)

URL_ENV = "SOCKETIO_REDIS_URL"
CHANNEL_ENV = "SOCKETIO_REDIS_CHANNEL"
DEFAULT_CHANNEL = "webchat"


def attach(server: Any, url: Optional[str] = None, channel: Optional[str] = None) -> bool:
    """Gives the socket.io ``server`` (not yet serving) a Redis manager when a URL is set (the
    argument, else env SOCKETIO_REDIS_URL); returns whether it did. The manager connects and
    starts listening with the server's first connection, as python-socketio does itself."""
    url = url or os.environ.get(URL_ENV)
    if not url:
        return False
    import socketio

    manager = socketio.AsyncRedisManager(
        url, channel=channel or os.environ.get(CHANNEL_ENV) or DEFAULT_CHANNEL
    )
    server.manager = manager
    manager.set_server(server)
    server.manager_initialized = False
    logger.info("Web chat: socket.io emits go through Redis (%s).", url.split("@")[-1])
    return True
