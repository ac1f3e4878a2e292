"""From references (metadata entries or inline text) to checked ``Attachment`` objects.

``references_from_metadata`` reads ``{"attachments": [...]}``; ``resolve_reference`` reads the
bytes (local path, data: URI or URL), lets the bytes decide the type, checks it against the
claim and the policy, and verifies the content; ``resolve_references`` does a whole message and
collects errors instead of raising, because one bad photo must not lose the customer's words;
``resolve_message_media`` is the entry point for one message (metadata and inline references).
"""

import dataclasses
import logging
from typing import Any, Dict, List, Optional, Tuple

from components.constants import ATTACHMENTS, INLINE_REFERENCES, SLACK_FILE_URLS
from components.media import errors
from components.media.attachment import Attachment, MediaReference, shorten_source
from components.media.datauri import as_data_uri, decode_data_uri
from components.media.fetch import fetch_url
from components.media.inline import classify_location, find_inline_references
from components.media.local import read_local
from components.media.mime import AUDIO, IMAGE, KINDS, kind_of_mime, kind_of_name
from components.media.policy import MediaPolicy
from components.media.sniff import check_type, unsupported_type, verify_audio, verify_image

logger = logging.getLogger(__name__)

# Keys a metadata entry may use for where the media is; Slack file objects use url_private*.
_LOCATION_KEYS = (
    ("data", "data"),
    ("url", "url"),
    ("url_private_download", "url"),
    ("url_private", "url"),
    ("path", "path"),
)


def _kind_from_claim(value: Any, mime: Optional[str], location: str) -> Optional[str]:
    """The kind the sender claimed: explicit type, else the MIME family, else the extension."""
    if isinstance(value, str) and value.strip():
        return value.strip().lower()
    claimed = kind_of_mime(mime)
    if claimed is not None:
        return claimed
    if not location.lower().startswith("data:"):
        path = location.split("?", 1)[0].split("#", 1)[0]
        return kind_of_name(path)
    return None


def reference_from_entry(entry: Any) -> MediaReference:
    """One metadata entry (dict or plain string) as a MediaReference; raises bad_reference."""
    if isinstance(entry, str) and entry.strip():
        location = entry.strip()
        return MediaReference(
            form=classify_location(location),
            location=location,
            kind=_kind_from_claim(None, None, location),
        )
    if not isinstance(entry, dict):
        raise errors.make_error(errors.BAD_REFERENCE, str(entry)[:80])
    found = [
        (form, entry[key])
        for key, form in _LOCATION_KEYS
        if isinstance(entry.get(key), str) and entry[key].strip()
    ]
    explicit_type = entry.get("type")
    if not found:
        raise errors.make_error(
            errors.BAD_REFERENCE,
            str({k: v for k, v in entry.items() if k != "data"})[:80],
            explicit_type if explicit_type in KINDS else None,
        )
    if len({form for form, _ in found}) > 1:  # e.g. both "url" and "path": which one was meant?
        raise errors.make_error(
            errors.BAD_REFERENCE,
            shorten_source(str(found[0][1])),
            explicit_type if explicit_type in KINDS else None,
        )
    form, location = found[0]
    location = location.strip()
    mime = entry.get("mime") if isinstance(entry.get("mime"), str) else None
    name = entry.get("name") if isinstance(entry.get("name"), str) else None
    if form == "data":
        location = as_data_uri(location, mime)
    return MediaReference(
        form=form,
        location=location,
        kind=_kind_from_claim(explicit_type, mime, location),
        mime=mime,
        name=name,
    )


def references_from_metadata(
    metadata: Dict[str, Any],
) -> Tuple[List[MediaReference], List[errors.AttachmentError]]:
    """References in flat metadata, and errors for entries that are not references at all."""
    raw = metadata.get(ATTACHMENTS)
    if raw is None:
        return [], []
    if isinstance(raw, (dict, str)):
        raw = [raw]
    if not isinstance(raw, list):
        return [], [errors.make_error(errors.BAD_REFERENCE, str(raw)[:80])]
    slack_urls = metadata.get(SLACK_FILE_URLS)
    slack_urls = {u for u in slack_urls if isinstance(u, str)} if isinstance(slack_urls, list) else set()
    references: List[MediaReference] = []
    problems: List[errors.AttachmentError] = []
    for entry in raw:
        try:
            reference = reference_from_entry(entry)
        except errors.AttachmentError as error:
            problems.append(error)
            continue
        if reference.form == "url" and reference.location in slack_urls:
            reference = dataclasses.replace(reference, slack_file=True)
        references.append(reference)
    return references, problems


def slack_token_for(reference: MediaReference, policy: MediaPolicy) -> Optional[str]:
    """The Slack bot token for a file of the Slack event itself, None for any other reference:
    a Slack URL typed or sent by a REST or web chat customer must not make the bot fetch, with
    its own token, a file of its workspace the customer cannot see."""
    return policy.slack_bot_token if reference.slack_file else None


def resolve_reference(reference: MediaReference, policy: MediaPolicy) -> Attachment:
    """Reads, type-checks and verifies one reference; raises AttachmentError."""
    source = reference.source
    kind = reference.kind
    if kind is not None and kind not in KINDS:
        raise unsupported_type(policy, source, None)
    declared_mime = reference.mime
    if reference.form == "data":
        data, uri_mime = decode_data_uri(reference.location, policy, source, kind)
        declared_mime = declared_mime or uri_mime
    elif reference.form == "url":
        data, content_type = fetch_url(
            reference.location, policy, source, kind, slack_token_for(reference, policy)
        )
        declared_mime = declared_mime or content_type
    elif reference.form == "path":
        data = read_local(reference.location, policy, source, kind)
    else:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind)
    if not data:
        raise errors.make_error(errors.CORRUPT, source, kind)
    kind, mime = check_type(data, policy, source, kind, declared_mime)
    if kind == IMAGE:
        verify_image(data, mime, policy, source)
    elif kind == AUDIO:
        verify_audio(data, mime, source, policy)
    name = reference.name or _default_name(reference)
    return Attachment.from_bytes(
        kind=kind, data=data, mime=mime, source=reference.location, name=name
    )


def _default_name(reference: MediaReference) -> Optional[str]:
    """The file name of a path or URL, None for data: URIs."""
    if reference.form == "data":
        return None
    path = reference.location.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1] or None


def resolve_references(
    references: List[MediaReference], policy: MediaPolicy
) -> Tuple[List[Attachment], List[errors.AttachmentError]]:
    """Resolves up to ``max_attachments`` distinct references; errors are returned, not raised."""
    unique: List[MediaReference] = []
    seen = set()
    for reference in references:
        if reference.location not in seen:
            seen.add(reference.location)
            unique.append(reference)
    attachments: List[Attachment] = []
    problems: List[errors.AttachmentError] = []
    for reference in unique[: policy.max_attachments]:
        try:
            attachments.append(resolve_reference(reference, policy))
        except errors.AttachmentError as error:
            problems.append(error.with_source(reference.source))
        except Exception:  # a decoder bug must not lose the customer's message
            logger.exception("Unexpected failure resolving attachment '%s'.", reference.source)
            problems.append(errors.make_error(errors.CORRUPT, reference.source, reference.kind))
    extra = unique[policy.max_attachments :]
    if extra:  # one error for the overflow: the parse output stays small whatever was sent
        problems.append(
            errors.make_error(
                errors.TOO_MANY, extra[0].source, extra[0].kind, limit=policy.max_attachments
            )
        )
    return attachments, problems


def resolve_message_media(
    text: str, metadata: Dict[str, Any], policy: MediaPolicy
) -> Tuple[List[Attachment], List[errors.AttachmentError], str]:
    """(attachments, errors, text without inline references) for one message; never raises
    AttachmentError. Metadata references come first, then inline ones in text order. A channel
    that accepts uploads only sets ``INLINE_REFERENCES: False``: paths and URLs typed in the text
    are then plain words, never read."""
    from_metadata, problems = references_from_metadata(metadata)
    if metadata.get(INLINE_REFERENCES, True) is False:
        inline, stripped = [], text
    else:
        inline, stripped = find_inline_references(text, policy)
    attachments, failures = resolve_references(from_metadata + inline, policy)
    return attachments, problems + failures, stripped
