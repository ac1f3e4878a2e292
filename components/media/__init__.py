"""Attachment handling shared by every component and channel.

An attachment is a reference in message metadata (``{"attachments": [{"type", "url"|"path"|
"data", "name", "mime"}]}``) or typed inline in the text; ``resolve_message_media`` turns the
references of one message into checked ``Attachment`` objects plus customer-facing errors.

Modules: ``errors`` (the error catalogue), ``policy`` (limits), ``attachment`` (data types),
``sniff`` (the bytes decide the type; image and audio verification), ``local`` (media roots),
``datauri``, ``fetch`` (http(s) with SSRF guards), ``resolve`` (references -> attachments),
``inline`` (references typed in text).
"""

from typing import Any, Dict, List, Tuple

from components.media.attachment import Attachment, MediaReference
from components.media.errors import AttachmentError
from components.media.inline import find_inline_references
from components.media.policy import AUDIO, IMAGE, MediaPolicy
from components.media.resolve import references_from_metadata, resolve_reference, resolve_references


def resolve_message_media(
    text: str, metadata: Dict[str, Any], policy: MediaPolicy
) -> Tuple[List[Attachment], List[AttachmentError], str]:
    """(attachments, errors, text without inline references) for one message; never raises
    AttachmentError. Metadata references come first, then inline ones in text order."""
    from_metadata, problems = references_from_metadata(metadata)
    inline, stripped = find_inline_references(text, policy)
    attachments, failures = resolve_references(from_metadata + inline, policy)
    return attachments, problems + failures, stripped


__all__ = [
    "AUDIO",
    "IMAGE",
    "Attachment",
    "AttachmentError",
    "MediaPolicy",
    "MediaReference",
    "find_inline_references",
    "references_from_metadata",
    "resolve_message_media",
    "resolve_reference",
    "resolve_references",
]
