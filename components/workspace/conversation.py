"""A conversation as the agent reads it: the tracker's events turned into turns with what the
pipeline understood (intent, confidence, sentiment, modality weights, voice transcript, OCR text,
media and refused attachments). Works on serialised events (``tracker.current_state``), so it
needs no Rasa objects and is the same for every tracker store."""

import datetime as dt
import os
from typing import Any, Dict, Iterable, List, Optional

from components.constants import (
    ATTACHMENT_ERRORS, ATTACHMENTS, EXPLANATION, IMAGE_TEXT, MEDIA_REFERENCES, SENTIMENT,
    TRANSCRIPT,
)

# Bot-utterance metadata key naming the agent who wrote it (absent for the assistant's own).
AGENT_KEY = "agent"


def _when(timestamp: Any) -> Optional[dt.datetime]:
    try:
        return dt.datetime.fromtimestamp(float(timestamp), dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def media_of_event(event: Dict[str, Any]) -> List[Dict[str, str]]:
    """The media the pipeline accepted in a user event, each ``{"type", "sha256", "mime", "path"}``
    (``path`` from the channel's stored reference whose name is the sha256, when there is one)."""
    parse_data = event.get("parse_data") or {}
    metadata = event.get("metadata") or {}
    stored = metadata.get(ATTACHMENTS) if isinstance(metadata, dict) else None
    paths = {}
    for entry in stored if isinstance(stored, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            paths[os.path.splitext(os.path.basename(entry["path"]))[0]] = entry["path"]
    found = []
    for reference in parse_data.get(MEDIA_REFERENCES) or []:
        if not isinstance(reference, dict) or not isinstance(reference.get("sha256"), str):
            continue
        digest = reference["sha256"]
        source = reference.get("source")
        path = paths.get(digest) or (source if isinstance(source, str)
                                     and os.path.splitext(os.path.basename(source))[0] == digest else None)
        found.append({"type": str(reference.get("type") or ""), "sha256": digest,
                      "mime": str(reference.get("mime") or ""), "path": path or ""})
    return found


def find_media(events: Iterable[Dict[str, Any]], sha256: str) -> Optional[Dict[str, str]]:
    """The stored reference with this sha256 among the conversation's accepted media."""
    for event in events:
        if event.get("event") == "user":
            for media in media_of_event(event):
                if media["sha256"] == sha256 and media["path"]:
                    return media
    return None


def turns_of(events: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """User and bot turns in order, each with what the workspace shows beside it."""
    turns: List[Dict[str, Any]] = []
    for index, event in enumerate(events):
        kind = event.get("event")
        if kind == "user":
            parse_data = event.get("parse_data") or {}
            intent = parse_data.get("intent") or {}
            sentiment = parse_data.get(SENTIMENT) if isinstance(parse_data.get(SENTIMENT), dict) else {}
            explanation = parse_data.get(EXPLANATION) if isinstance(parse_data.get(EXPLANATION), dict) else {}
            transcript = parse_data.get(TRANSCRIPT) if isinstance(parse_data.get(TRANSCRIPT), dict) else {}
            ocr = parse_data.get(IMAGE_TEXT)
            turns.append({
                "index": index, "role": "customer", "text": event.get("text") or "",
                "when": _when(event.get("timestamp")), "channel": event.get("input_channel") or "",
                "intent": intent.get("name"), "confidence": intent.get("confidence"),
                "sentiment": sentiment.get("label"), "sentiment_confidence": sentiment.get("confidence"),
                "modality_weights": explanation.get("modality_weights") or {},
                "transcript": transcript.get("text") or "",
                "ocr": "\n".join(ocr) if isinstance(ocr, list) else (ocr or ""),
                "media": media_of_event(event),
                "errors": [e for e in parse_data.get(ATTACHMENT_ERRORS) or [] if isinstance(e, dict)],
            })
        elif kind == "bot" and (event.get("text") or event.get("data")):
            metadata = event.get("metadata") or {}
            turns.append({
                "index": index, "role": "agent" if metadata.get(AGENT_KEY) else "bot",
                "agent": metadata.get(AGENT_KEY), "text": event.get("text") or "",
                "when": _when(event.get("timestamp")),
            })
    return turns


def input_channel_of(events: Iterable[Dict[str, Any]]) -> str:
    """The channel the customer last wrote on (where an agent's reply must go)."""
    return str(last_user_event(events).get("input_channel") or "")


def last_user_event(events: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """The customer's latest message event ({} when there is none)."""
    last: Dict[str, Any] = {}
    for event in events:
        if event.get("event") == "user":
            last = event
    return last


def is_paused(events: Iterable[Dict[str, Any]]) -> bool:
    """True while the bot is paused (a ``pause`` not followed by a ``resume``)."""
    paused = False
    for event in events:
        if event.get("event") == "pause":
            paused = True
        elif event.get("event") == "resume":
            paused = False
    return paused
