"""Decoding ``data:`` URIs (RFC 2397), base64 only: binary media is never percent-encoded.

API clients often send bare base64 under an attachment's ``data`` key; ``as_data_uri`` wraps it
so one decoder handles both forms, in the resolver and in the REST channel alike.
"""

import base64
import binascii
import re
from typing import Optional, Tuple

from components.media import errors
from components.media.policy import MediaPolicy

_DATA_URI = re.compile(
    r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<payload>.*)$", re.DOTALL
)


def as_data_uri(data: str, mime: Optional[str] = None) -> str:
    """``data`` as a data: URI: unchanged when it is one, else bare base64 labelled ``mime``."""
    data = data.strip()
    if data[:5].lower() == "data:":
        return data
    return f"data:{mime or ''};base64,{data}"


def decode_data_uri(
    uri: str, policy: MediaPolicy, source: str, kind: Optional[str] = None
) -> Tuple[bytes, Optional[str]]:
    """(bytes, declared MIME) of a base64 data: URI; size is checked before decoding."""
    match = _DATA_URI.match(uri.strip())
    if match is None:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind)
    params = [p.strip().lower() for p in match.group("params").split(";") if p.strip()]
    if "base64" not in params:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind)
    payload = re.sub(r"\s+", "", match.group("payload"))
    limit = policy.max_bytes(kind)
    if len(payload) // 4 * 3 > limit + 3:
        raise errors.make_error(errors.TOO_LARGE, source, kind, limit=errors.human_size(limit))
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        try:  # browsers' FileReader never does this, but URL-safe base64 is common in APIs
            data = base64.b64decode(payload, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.make_error(errors.BAD_REFERENCE, source, kind) from exc
    if not data:
        raise errors.make_error(errors.BAD_REFERENCE, source, kind)
    if len(data) > limit:
        raise errors.make_error(errors.TOO_LARGE, source, kind, limit=errors.human_size(limit))
    return data, (match.group("mime") or None)
