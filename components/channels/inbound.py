"""What a channel keeps of a client's message: capped text, references instead of payloads, and
only the metadata keys the pipeline reads.

Why: whatever a channel passes on is stored in the tracker, in the user event and again in
events that copy its metadata, for as long as the conversation is kept. A client must not be able
to make one message cost megabytes there (a ``data:`` URI in the text, junk metadata keys), nor
make the NLU read an arbitrarily long text (DIET's cost grows with the square of the words).

- ``max_text_chars`` (default DEFAULT_MAX_TEXT_CHARS): longer texts are refused with
  ``text_too_long``, the limit named;
- ``split_data_uris``: ``data:`` URIs typed in the text are taken out, for the channel to store
  them in the media store and attach the reference;
- ``clean_client_metadata``: only ``attachments`` (and a supported ``language`` hint) survives,
  each attachment entry reduced to ENTRY_KEYS with string values of at most MAX_REFERENCE_CHARS (inline ``data`` excepted: the channel stores it),
  at most ``max_attachments + 1`` entries (one more than the resolver takes, so it can still say
  "too many"). What the channel itself sets is added after cleaning.
"""

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

from components.channels import refusals
from components.channels.uploads import UploadError
from components.channels.language_hint import client_language
from components.constants import ATTACHMENTS, LANGUAGE_HINT
from components.media.inline import find_inline_references
from components.media.policy import MediaPolicy

logger = logging.getLogger(__name__)

DEFAULT_MAX_TEXT_CHARS = 5000

# Keys a client's attachment entry may carry ("data" only until the channel has stored it).
ENTRY_KEYS = ("type", "path", "url", "name", "mime", "data")

# Longest path, URL, name, type or MIME string accepted in an attachment entry.
MAX_REFERENCE_CHARS = 2048


@dataclass(frozen=True)
class TextLimit:
    """The per-channel text cap (config key ``max_text_chars``)."""

    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS

    @classmethod
    def from_config(cls, config: Optional[Dict[str, Any]]) -> "TextLimit":
        value = (config or {}).get("max_text_chars")
        limit = DEFAULT_MAX_TEXT_CHARS if value is None else int(value)
        if limit < 1:
            raise ValueError("max_text_chars must be 1 or more.")
        return cls(limit)

    def refusal(self) -> UploadError:
        """The ``text_too_long`` refusal (413) naming the limit."""
        return UploadError.refusal(refusals.TEXT_TOO_LONG, limit=f"{self.max_text_chars:,}")

    def check(self, text: str) -> None:
        """Raises the refusal when ``text`` is longer than the cap."""
        if len(text) > self.max_text_chars:
            raise self.refusal()


def split_data_uris(text: str, policy: MediaPolicy) -> Tuple[str, List[str]]:
    """(text without its ``data:`` URIs, the URIs in text order). Other inline references stay."""
    if not text or "data:" not in text.lower():
        return text, []
    references, _ = find_inline_references(text, policy)
    uris = [reference.location for reference in references if reference.form == "data"]
    for uri in uris:
        text = text.replace(uri, " ")
    return " ".join(text.split()) if uris else text, uris


def _clean_entry(entry: Any) -> Union[None, str, Dict[str, str]]:
    """One attachment entry reduced to ENTRY_KEYS with capped strings; None drops it."""
    if isinstance(entry, str):
        if entry.strip().lower().startswith("data:"):
            return entry
        if len(entry) > MAX_REFERENCE_CHARS:
            raise UploadError.bad_request(
                f"An attachment reference is longer than {MAX_REFERENCE_CHARS} characters."
            )
        return entry
    if not isinstance(entry, dict):
        return None
    cleaned: Dict[str, str] = {}
    for key in ENTRY_KEYS:
        value = entry.get(key)
        if not isinstance(value, str):
            continue
        if key != "data" and len(value) > MAX_REFERENCE_CHARS:
            raise UploadError.bad_request(
                f"The attachment field '{key}' is longer than {MAX_REFERENCE_CHARS} characters."
            )
        cleaned[key] = value
    return cleaned or None


def clean_client_metadata(metadata: Any, max_attachments: int) -> Dict[str, Any]:
    """Client metadata reduced to allow-listed attachment entries and a supported language hint
    (``LANGUAGE_HINT``, e.g. the page language); raises UploadError (400)."""
    if not isinstance(metadata, dict):
        return {}
    dropped = [key for key in metadata if key not in (ATTACHMENTS, LANGUAGE_HINT)]
    if dropped:
        logger.debug("Dropped client metadata keys: %.200s", ", ".join(map(str, dropped)))
    cleaned: Dict[str, Any] = {}
    language = client_language(metadata)
    if language:
        cleaned[LANGUAGE_HINT] = language
    raw = metadata.get(ATTACHMENTS)
    if raw is None:
        return cleaned
    entries = raw if isinstance(raw, list) else [raw]
    kept = [e for e in (_clean_entry(entry) for entry in entries[: max_attachments + 1]) if e is not None]
    if kept:
        cleaned[ATTACHMENTS] = kept
    return cleaned
