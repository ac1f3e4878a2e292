"""Limits and settings for resolving attachments, with documented defaults.

One ``MediaPolicy`` travels with every resolve call so the rules (where local files may live,
how big media may be, whether private network addresses may be fetched) are in one place.
"""

import dataclasses
import ipaddress
import os
from typing import Any, Dict, List, Optional, Tuple

from components.media.mime import AUDIO, DEFAULT_AUDIO_TYPES, DEFAULT_IMAGE_TYPES, IMAGE, normalise_mime


@dataclasses.dataclass(frozen=True)
class MediaPolicy:
    """What may be resolved and how far resolving may go. Defaults are safe for a public bot."""

    # Folders local paths must lie in (after following symlinks); relative to the working dir.
    media_roots: Tuple[str, ...] = ("data/media",)
    # Largest image accepted, in bytes (10 MB).
    max_image_bytes: int = 10_000_000
    # Largest audio file accepted, in bytes (20 MB).
    max_audio_bytes: int = 20_000_000
    # Most pixels (width x height) an image may declare; more is a decompression bomb (40 M).
    max_image_pixels: int = 40_000_000
    # Highest sample rate (Hz) and most channels an audio file may declare. Speech needs 16 kHz
    # mono; a tiny FLAC at 384 kHz and 8 channels would decode to gigabytes (an audio bomb).
    max_audio_sample_rate: int = 192_000
    max_audio_channels: int = 8
    # Image MIME types accepted (the bytes decide the type, not the name or header).
    allowed_image_types: Tuple[str, ...] = DEFAULT_IMAGE_TYPES
    # Audio MIME types accepted.
    allowed_audio_types: Tuple[str, ...] = DEFAULT_AUDIO_TYPES
    # Fetch from private, loopback, link-local, multicast or reserved addresses (SSRF guard off).
    allow_private_urls: bool = False
    # Private networks (CIDR, e.g. "10.20.0.0/16") trusted anyway: an internal media server.
    allowed_private_networks: Tuple[str, ...] = ()
    # Time budget in seconds for fetching one URL, all redirects and the body included.
    url_timeout_s: float = 5.0
    # Most HTTP redirects followed; every hop is checked again.
    max_redirects: int = 3
    # Slack bot token sent as a Bearer token to Slack file hosts only (None: env SLACK_BOT_TOKEN).
    slack_bot_token: Optional[str] = dataclasses.field(default=None, repr=False)
    # Most attachments resolved per message; the rest get a ``too_many`` error.
    max_attachments: int = 5

    def max_bytes(self, kind: Optional[str]) -> int:
        """Size cap for ``kind``; the larger cap when the kind is not known yet."""
        if kind == IMAGE:
            return self.max_image_bytes
        if kind == AUDIO:
            return self.max_audio_bytes
        return max(self.max_image_bytes, self.max_audio_bytes)

    def allowed_types(self, kind: Optional[str]) -> Tuple[str, ...]:
        """Allowed MIME types for ``kind`` (both kinds when unknown)."""
        if kind == IMAGE:
            return self.allowed_image_types
        if kind == AUDIO:
            return self.allowed_audio_types
        return self.allowed_image_types + self.allowed_audio_types

    def root_paths(self) -> List[str]:
        """The media roots as real absolute paths (symlinks resolved), in configured order."""
        return [os.path.realpath(os.path.abspath(root)) for root in self.media_roots]

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "MediaPolicy":
        """Builds a policy from a component config; unknown keys are ignored, None means default."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values: Dict[str, Any] = {}
        for key, value in config.items():
            if key not in fields or value is None:
                continue
            if key in (
                "media_roots",
                "allowed_image_types",
                "allowed_audio_types",
                "allowed_private_networks",
            ):
                if isinstance(value, str):
                    value = [value]
                value = tuple(str(v) for v in value)
                if key in ("allowed_image_types", "allowed_audio_types"):
                    value = tuple(dict.fromkeys(normalise_mime(v) or v for v in value))
            values[key] = value
        if values.get("slack_bot_token") is None:
            values["slack_bot_token"] = os.environ.get("SLACK_BOT_TOKEN") or None
        policy = cls(**values)
        policy.validate()
        return policy

    def validate(self) -> None:
        """Raises ValueError naming the setting that makes no sense."""
        for name in (
            "max_image_bytes",
            "max_audio_bytes",
            "max_image_pixels",
            "max_audio_sample_rate",
            "max_audio_channels",
            "max_attachments",
        ):
            if int(getattr(self, name)) <= 0:
                raise ValueError(
                    f"MediaPolicy.{name} must be a positive number, got {getattr(self, name)!r}."
                )
        if self.max_redirects < 0:
            raise ValueError(
                f"MediaPolicy.max_redirects must be 0 or more, got {self.max_redirects!r}."
            )
        if self.url_timeout_s <= 0:
            raise ValueError(
                f"MediaPolicy.url_timeout_s must be positive, got {self.url_timeout_s!r}."
            )
        for network in self.allowed_private_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"MediaPolicy.allowed_private_networks: '{network}' is not a network (CIDR)."
                ) from exc
        known = set(DEFAULT_IMAGE_TYPES) | set(DEFAULT_AUDIO_TYPES)
        for mime in self.allowed_image_types + self.allowed_audio_types:
            if mime not in known:
                raise ValueError(
                    f"MediaPolicy cannot accept '{mime}': only {sorted(known)} can be recognised."
                )
