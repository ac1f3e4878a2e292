"""Reading and writing conversations in the Rasa server the workspace runs in, and delivering an
agent's reply through the channel the customer used.

Writes go through Rasa's own objects exactly as its HTTP API's ``/tracker/events`` does: under
the lock store's lock for the conversation, fetched by the processor, saved to the tracker store.
So an agent's reply and a customer's message never overwrite each other, on any tracker store.

Delivery per channel (the tracker's ``input_channel`` of the customer's last message):

- ``webchat``: pushed to the session's open sockets (``WebChatInput.push_to_session``); a page
  that is closed reads it on the next visit from the tracker, like any reply.
- ``rest``: REST has no connection to push to; the reply is in the tracker, where the
  integrator's backend polls it (``GET /conversations/<id>/tracker`` with the API token, bot
  events whose ``metadata.agent`` is set), see docs/workspace.md.
- ``slack``: ``chat.postMessage`` to the Slack channel (and thread) the customer last wrote in
  (``metadata.out_channel`` / ``thread_id`` of their message, as the Slack channel records it),
  with the workspace's ``slack_token``.
"""

import asyncio
import logging
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from rasa.shared.core.events import BotUttered, Event
from rasa.shared.core.trackers import EventVerbosity
from slack_sdk.web.async_client import AsyncWebClient

from actions.agent import RESUME_EVENTS
from components.channels import webchat
from components.channels.senders import SLACK_PREFIX
from components.channels.slack import DEFAULT_API_URL as DEFAULT_SLACK_API_URL
from components.workspace import analytics
from components.workspace.conversation import AGENT_KEY

logger = logging.getLogger(__name__)

# Delivered live to the customer / stored in the tracker for the channel to poll.
DELIVERED = "delivered"
STORED = "stored"


class Conversations:
    """The running Rasa agent's tracker store, lock store and processor, for the workspace."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    async def events(self, sender_id: str) -> List[Dict[str, Any]]:
        """Every serialised event of the conversation (all sessions), [] when there is none."""
        tracker = await self.agent.tracker_store.retrieve_full_tracker(sender_id)
        if tracker is None:
            return []
        return tracker.current_state(EventVerbosity.ALL).get("events") or []

    async def version(self, sender_id: str) -> int:
        """A number that changes whenever the conversation gets an event, for the live view: one
        indexed COUNT on the SQL tracker store (no tracker replay), the event count otherwise."""
        engine = analytics.sql_engine_of(self.agent.tracker_store)
        if engine is None:
            return len(await self.events(sender_id))

        def count() -> int:
            with engine.connect() as conn:
                return int(conn.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = :s"),
                                        {"s": sender_id}).scalar() or 0)

        return await asyncio.to_thread(count)

    async def append(self, sender_id: str, events: List[Event]) -> None:
        async with self.agent.lock_store.lock(sender_id):
            tracker = await self.agent.processor.fetch_tracker_with_initial_session(sender_id)
            for event in events:
                tracker.update(event, self.agent.domain)
            await self.agent.tracker_store.save(tracker)

    async def add_agent_reply(self, sender_id: str, text: str, agent_name: str) -> None:
        """The reply as a bot utterance marked with the agent's name."""
        await self.append(sender_id, [BotUttered(text, metadata={AGENT_KEY: agent_name})])

    async def resume_bot(self, sender_id: str) -> None:
        """What ``scripts/agent resume`` does: ``resume`` then ``action_listen``
        (``actions.agent.RESUME_EVENTS``), so the customer's next message is answered."""
        await self.append(sender_id, [Event.from_parameters(dict(e)) for e in RESUME_EVENTS])


async def deliver(last_message: Dict[str, Any], sender_id: str, text: str, slack_token: Optional[str] = None,
                  slack_api_url: Optional[str] = None) -> str:
    """Sends the reply to the customer on the channel of their ``last_message`` (a serialised
    user event) where that channel can push; returns DELIVERED or STORED."""
    channel = last_message.get("input_channel")
    metadata = last_message.get("metadata") if isinstance(last_message.get("metadata"), dict) else {}
    if channel == "webchat":
        live = webchat.live_channels()
        for chat in live:
            await chat.push_to_session(sender_id, text)
        return DELIVERED if live else STORED
    if channel == "slack" and sender_id.startswith(SLACK_PREFIX) and slack_token and metadata.get("out_channel"):
        client = AsyncWebClient(token=slack_token, base_url=slack_api_url or DEFAULT_SLACK_API_URL)
        thread = metadata.get("thread_id")
        await client.chat_postMessage(channel=str(metadata["out_channel"]), text=text,
                                      **({"thread_ts": str(thread)} if thread else {}))
        return DELIVERED
    return STORED
