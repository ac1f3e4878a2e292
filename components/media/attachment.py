"""What a resolved attachment is, and what a reference to one looks like before resolving.

An ``Attachment`` holds checked bytes in memory for the components of one ``process`` call; only
its small ``reference()`` dict goes to outputs and trackers, never the bytes.
"""

import dataclasses
import hashlib
from typing import Any, Dict, List, Optional

from components.constants import MEDIA

DATA_URI_PREVIEW = 40  # characters of a data: URI kept in ``source``


def shorten_source(source: str) -> str:
    """The reference as given, with data: URIs cut to a short preview (no blobs in trackers)."""
    if source.startswith("data:") and len(source) > DATA_URI_PREVIEW:
        return f"{source[:DATA_URI_PREVIEW]}...({len(source)} chars)"
    return source


@dataclasses.dataclass(frozen=True)
class Attachment:
    """Media checked against the policy: the bytes decided ``kind`` and ``mime``."""

    kind: str  # "image" or "audio"
    data: bytes = dataclasses.field(repr=False)
    mime: str
    sha256: str  # hex digest of ``data``
    source: str  # the reference as given (data: URIs shortened)
    name: Optional[str] = None

    @classmethod
    def from_bytes(
        cls, kind: str, data: bytes, mime: str, source: str, name: Optional[str] = None
    ) -> "Attachment":
        """Builds an attachment, computing the hash and shortening the source."""
        return cls(
            kind=kind,
            data=data,
            mime=mime,
            sha256=hashlib.sha256(data).hexdigest(),
            source=shorten_source(source),
            name=name,
        )

    def reference(self) -> Dict[str, str]:
        """Small dict for outputs and trackers: ``{"type", "sha256", "source", "mime"}``."""
        return {"type": self.kind, "sha256": self.sha256, "source": self.source, "mime": self.mime}

    def fingerprint(self) -> str:
        """Used by Rasa's ``deep_container_fingerprint``: the content hash, never str(bytes)."""
        return f"{self.kind}:{self.mime}:{self.sha256}"


def attachments_of_kind(message: Any, kind: str) -> List[Any]:
    """The message's resolved attachments of ``kind`` ("image" or "audio"), in order.

    Duck-typed: anything under the message's ``media`` key with that ``kind`` counts, so tests and
    other resolvers can pass their own objects with the ``Attachment`` fields."""
    media = message.get(MEDIA) or []
    return [item for item in media if getattr(item, "kind", None) == kind]


def attachment_source(item: Any) -> str:
    """What an ``attachment_errors`` entry names an attachment by: its reference as the customer
    gave it, else its file name, else its kind ("image", "audio")."""
    return str(getattr(item, "source", "") or getattr(item, "name", "") or getattr(item, "kind", "file"))


@dataclasses.dataclass(frozen=True)
class MediaReference:
    """A reference as found in metadata or text, before anything is read.

    ``form`` is "path", "url" or "data"; ``location`` the path, URL or data: URI; ``kind`` and
    ``mime`` are what the sender claimed (may be None), the bytes decide in the end.
    """

    form: str
    location: str
    kind: Optional[str] = None
    mime: Optional[str] = None
    name: Optional[str] = None
    inline: bool = False  # typed in the message text (removed from what the NLU sees)
    # A file of the Slack event itself (listed by the Slack channel under SLACK_FILE_URLS): the
    # only kind of reference the Slack bot token is ever sent for.
    slack_file: bool = False

    @property
    def source(self) -> str:
        """The reference as the customer gave it, shortened for data: URIs."""
        return shorten_source(self.location)
