"""One normaliser for the two shapes of message metadata Rasa hands to components.

At inference ``message.get("metadata")`` is the channel's dict (or None). Training examples from
nlu.yml arrive as ``{"example": {...}, "intent": {...}}``: intent-level metadata applies to every
example of the intent, and an example's own metadata wins over it.
"""

from typing import Any, Dict, Optional

from rasa.shared.nlu.constants import METADATA, METADATA_EXAMPLE, METADATA_INTENT
from rasa.shared.nlu.training_data.message import Message


def normalise_metadata(metadata: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Flattens training-shaped metadata; returns channel metadata as a new dict."""
    if not isinstance(metadata, dict):
        return {}
    if METADATA_EXAMPLE in metadata or METADATA_INTENT in metadata:
        merged: Dict[str, Any] = {}
        for part in (metadata.get(METADATA_INTENT), metadata.get(METADATA_EXAMPLE)):
            if isinstance(part, dict):
                merged.update(part)
        return merged
    return dict(metadata)


def message_metadata(message: Message) -> Dict[str, Any]:
    """The message's metadata in the flat (channel) shape, whichever shape it came in."""
    return normalise_metadata(message.get(METADATA))
