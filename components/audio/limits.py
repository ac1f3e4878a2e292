"""What a voice message must be for the speech components to listen to it, with the defaults.

One ``AudioLimits`` is built from a component's config (``from_config``) and handed to the one
loader (``loading.decode_message_audio``), so the transcriber and the speech featurizer apply the
same rules from the same defaults. The byte cap defaults to the resolver's (``MediaPolicy``): a
file the resolver accepts is never refused later for its size.
"""

import dataclasses
from typing import Any, Dict

from rasa.shared.exceptions import InvalidConfigException

from components.media.policy import MediaPolicy

# The one sample rate every audio component works at (Whisper's and speechbrain's models expect it).
TARGET_SAMPLE_RATE = 16000


@dataclasses.dataclass(frozen=True)
class AudioLimits:
    """Limits a voice message is checked against after decoding. Defaults suit voice notes."""

    # Longest accepted voice message, seconds.
    max_duration_s: float = 60.0
    # Shortest, seconds (shorter = nothing could have been said).
    min_duration_s: float = 0.1
    # Largest accepted audio file, bytes: the resolver's own cap.
    max_bytes: int = MediaPolicy().max_audio_bytes
    # A clip whose every 25 ms frame stays below this level (dBFS) is reported as silent.
    silence_threshold_db: float = -45.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises ValueError naming the setting that can never work."""
        if not float(self.max_duration_s) > 0:
            raise ValueError(f"max_duration_s must be positive, got {self.max_duration_s!r}.")
        if not 0 <= float(self.min_duration_s) < float(self.max_duration_s):
            raise ValueError(
                f"min_duration_s must be 0 or more and below max_duration_s, "
                f"got {self.min_duration_s!r}."
            )
        if isinstance(self.max_bytes, bool) or int(self.max_bytes) <= 0:
            raise ValueError(f"max_bytes must be a positive number, got {self.max_bytes!r}.")
        if float(self.silence_threshold_db) >= 0:
            raise ValueError(
                f"silence_threshold_db must be below 0 dBFS, got {self.silence_threshold_db!r}."
            )

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "AudioLimits":
        """The limits named in a component config; other keys are ignored, None means default."""
        values: Dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            value = config.get(field.name)
            if value is not None:
                values[field.name] = int(value) if field.name == "max_bytes" else float(value)
        return cls(**values)

    @classmethod
    def for_component(cls, component: str, config: Dict[str, Any]) -> "AudioLimits":
        """``from_config`` for a component's ``validate_config``: a bad value is Rasa's
        InvalidConfigException naming the component and the key."""
        try:
            return cls.from_config(config)
        except (TypeError, ValueError) as e:
            raise InvalidConfigException(f"{component}: {e}") from e

    def as_config(self) -> Dict[str, Any]:
        """The limits as config keys, for a component's ``get_default_config``."""
        return dataclasses.asdict(self)
