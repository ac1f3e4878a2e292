"""Tells the NLU which language the customer speaks, so a voice message reaches the right recogniser.

Why: the reference assistant hears English with Whisper tiny.en (fast, best on English) and
Mandarin with Whisper base; an audio clip carries no text to detect its language from, and
running a multilingual model only to detect the language costs as much as transcribing. The
conversation already knows: the action server keeps the language of what the customer wrote in
the ``language`` slot. Before a message is parsed, that slot (else the client's page language,
which the channels keep when it names a supported language) goes into the message's metadata as
``LANGUAGE_HINT``; the SpeechTranscriber uses it only to choose among its configured models.
"""

from typing import Any, Dict, Optional

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.constants import LANGUAGE_HINT
from components.text.language import LANGUAGE_SLOT, detect_language, supported_language


def client_language(metadata: Any) -> Optional[str]:
    """The page language a client sent in its metadata, when it is a supported one."""
    return supported_language(metadata.get(LANGUAGE_HINT)) if isinstance(metadata, dict) else None


def conversation_language(tracker: Optional[DialogueStateTracker]) -> Optional[str]:
    """The ``language`` slot once the customer has written something in a language (before that
    the slot only holds its initial value, which says nothing about this customer)."""
    if tracker is None or LANGUAGE_SLOT not in tracker.slots:
        return None
    spoken = any(
        (isinstance(event, SlotSet) and event.key == LANGUAGE_SLOT)
        or (isinstance(event, UserUttered) and detect_language(event.text))
        for event in tracker.events
    )
    return supported_language(tracker.get_slot(LANGUAGE_SLOT)) if spoken else None


def add_conversation_language(message: UserMessage, tracker: Optional[DialogueStateTracker]) -> None:
    """Puts the conversation's language (slot first, then the client's hint) into the metadata."""
    spoken = conversation_language(tracker)
    metadata: Dict[str, Any] = message.metadata if isinstance(message.metadata, dict) else {}
    spoken = spoken or client_language(metadata)
    if spoken is None:
        metadata.pop(LANGUAGE_HINT, None)
    else:
        metadata[LANGUAGE_HINT] = spoken
    message.metadata = metadata
