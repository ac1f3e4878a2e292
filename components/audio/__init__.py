"""Audio for the speech components: decoding to 16 kHz mono, ASR backends, transcript cache, prosody.

``load_audio`` (loading.py) is the one place bytes become samples; ``get_backend`` (asr.py) the one
place recognisers are loaded; ``prosody_features`` (prosody.py) describes how something was said.
"""

from components.audio.loading import (  # noqa: F401
    TARGET_SAMPLE_RATE,
    AudioError,
    DecodedAudio,
    decode_attachment_audio,
    is_silent,
    load_audio,
)
