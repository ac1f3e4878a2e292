"""One ``load_audio`` that turns any supported audio bytes into 16 kHz mono float32.

Why two decoders: libsndfile (``soundfile``) reads WAV, FLAC and Ogg (Vorbis/Opus) exactly and fast;
PyAV (FFmpeg's libraries, installed with faster-whisper) reads what voice notes usually are
(MP3, WebM/Opus from browsers, M4A/AAC from phones) without needing an ``ffmpeg`` binary. Every
failure becomes an :class:`AudioError` with a stable ``code`` so components can report it to the
user instead of raising.
"""

import hashlib
import io
import logging
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 16000

# Stable error codes (they reach ``attachment_errors`` in the parse output). "corrupt" and "too_large"
# are the same strings as in components/media/errors.py, so actions branch on one code per failure.
AUDIO_EMPTY = "audio_empty"
AUDIO_TOO_LARGE = "too_large"
AUDIO_CORRUPT = "corrupt"
AUDIO_TOO_LONG = "audio_too_long"
AUDIO_TOO_SHORT = "audio_too_short"
AUDIO_SILENT = "audio_silent"
TRANSCRIPTION_FAILED = "transcription_failed"


def _too_long(limit_s: float, seconds: Optional[float] = None) -> "AudioError":
    """The one wording of the too-long error."""
    length = f"{seconds:.0f} s long" if seconds is not None else f"longer than {limit_s:.0f} s"
    return AudioError(
        AUDIO_TOO_LONG,
        f"Your voice message is {length}; the most I can listen to is {limit_s:.0f} s. "
        f"Could you send a shorter one?",
    )


class AudioError(Exception):
    """Audio that cannot be used, with a stable ``code`` and a message a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_entry(self, source: Optional[str]) -> dict:
        """The ``attachment_errors`` entry for this error."""
        return {"source": source or "audio", "code": self.code, "message": self.message}


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded 16 kHz mono audio plus where it came from.

    Carried on the Message (``constants.DECODED_AUDIO``) so the featurizer does not decode twice.
    ``fingerprint`` keeps Rasa's message fingerprint stable and cheap (the samples are not hashed).
    """

    samples: np.ndarray = field(repr=False, compare=False)
    sha256: str
    source: Optional[str] = None
    sample_rate: int = TARGET_SAMPLE_RATE

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return float(len(self.samples)) / float(self.sample_rate)

    def fingerprint(self) -> str:
        """What Rasa hashes for this object: the content hash of the original bytes."""
        return f"decoded-audio-{self.sha256}-{self.sample_rate}"


def _to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) -> (frames,) by averaging channels."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32)


def resample(samples: np.ndarray, orig_rate: int, target_rate: int = TARGET_SAMPLE_RATE) -> np.ndarray:
    """Band-limited (sinc) resampling with torchaudio; a no-op when the rates match."""
    if orig_rate == target_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional as F

    with torch.inference_mode():
        out = F.resample(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), orig_rate, target_rate)
    return out.numpy().astype(np.float32, copy=False)


def _decode_soundfile(data: bytes, max_duration_s: float) -> Optional[Tuple[np.ndarray, int]]:
    """Decodes with libsndfile; None when libsndfile does not know the format."""
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            # frames can be unknown (0 or huge) for some Ogg streams; read in blocks with a cap.
            if f.frames and f.frames > 0 and f.frames / rate > max_duration_s:
                raise _too_long(max_duration_s, f.frames / rate)
            limit = int(max_duration_s * rate) + 1
            blocks: List[np.ndarray] = []
            total = 0
            for block in f.blocks(blocksize=65536, dtype="float32", always_2d=True):
                blocks.append(block)
                total += len(block)
                if total > limit:
                    raise _too_long(max_duration_s)
    except AudioError:
        raise
    except Exception as e:  # libsndfile: unknown format or broken file -> let PyAV try
        logger.debug(f"soundfile could not decode audio: {e}")
        return None
    if not blocks:
        return np.zeros(0, dtype=np.float32), rate
    return _to_mono(np.concatenate(blocks, axis=0)), rate


def _decode_pyav(data: bytes, max_duration_s: float, target_rate: int) -> np.ndarray:
    """Decodes any container/codec FFmpeg knows, resampled to ``target_rate`` mono by swresample."""
    try:
        import av
    except ImportError as e:  # pragma: no cover - PyAV ships with faster-whisper
        raise AudioError(AUDIO_CORRUPT, "This audio format needs PyAV (`pip install av`).") from e

    limit = int(max_duration_s * target_rate) + 1
    chunks: List[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError(AUDIO_CORRUPT, "The file you sent as a voice message has no sound track.")
            stream = container.streams.audio[0]
            if container.duration is not None and container.duration / 1_000_000 > max_duration_s + 0.5:
                raise _too_long(max_duration_s, container.duration / 1_000_000)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)

            def take(frames: list) -> None:
                nonlocal total
                for out in frames:
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
                if total > limit:
                    raise _too_long(max_duration_s)

            for frame in container.decode(stream):
                take(resampler.resample(frame))
            take(resampler.resample(None))
    except AudioError:
        raise
    except Exception as e:
        raise AudioError(
            AUDIO_CORRUPT,
            f"The voice message you sent seems to be damaged or in a format I can't play "
            f"({type(e).__name__}). Could you send it again?",
        ) from e
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def load_audio(
    data: bytes,
    target_rate: int = TARGET_SAMPLE_RATE,
    max_duration_s: float = 60.0,
    max_bytes: int = 25 * 1024 * 1024,
) -> np.ndarray:
    """Decodes audio bytes (WAV, FLAC, Ogg/Opus/Vorbis, MP3, WebM, M4A, ...) to mono float32 at ``target_rate``.

    Raises:
        AudioError: empty, too large, too long or undecodable input (see the module's codes).
    """
    if not data:
        raise AudioError(AUDIO_EMPTY, "The voice message you sent is empty. Could you record it again?")
    if len(data) > max_bytes:
        raise AudioError(
            AUDIO_TOO_LARGE,
            f"The voice message you sent is {len(data) / 1e6:.1f} MB; the most I can accept is "
            f"{max_bytes / 1e6:.1f} MB. Could you send a shorter one?",
        )
    decoded = _decode_soundfile(data, max_duration_s)
    if decoded is not None:
        samples, rate = decoded
        samples = resample(samples, rate, target_rate)
    else:
        samples = _decode_pyav(data, max_duration_s, target_rate)
    if samples.size == 0:
        raise AudioError(AUDIO_EMPTY, "The voice message you sent contains no sound. Could you record it again?")
    if not np.all(np.isfinite(samples)):
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def frame_rms_db(samples: np.ndarray, rate: int = TARGET_SAMPLE_RATE, frame_s: float = 0.025) -> np.ndarray:
    """RMS level of non-overlapping frames in dBFS (full-scale sine = -3 dB)."""
    n = max(1, int(rate * frame_s))
    frames = len(samples) // n
    if frames == 0:
        frames, n = 1, len(samples)
    x = samples[: frames * n].reshape(frames, n).astype(np.float64)
    rms = np.sqrt(np.mean(x * x, axis=1) + 1e-20)
    return 20.0 * np.log10(rms + 1e-12)


def is_silent(samples: np.ndarray, threshold_db: float = -45.0, rate: int = TARGET_SAMPLE_RATE) -> bool:
    """True when no 25 ms frame rises above ``threshold_db`` dBFS (no speech anywhere)."""
    if samples.size == 0:
        return True
    return bool(frame_rms_db(samples, rate).max() < threshold_db)


def decode_attachment_audio(
    data: bytes,
    sha256: Optional[str] = None,
    source: Optional[str] = None,
    max_duration_s: float = 60.0,
    max_bytes: int = 25 * 1024 * 1024,
    min_duration_s: float = 0.1,
    silence_threshold_db: float = -45.0,
) -> DecodedAudio:
    """``load_audio`` plus the checks a voice message must pass before it is worth transcribing."""
    samples = load_audio(data, TARGET_SAMPLE_RATE, max_duration_s=max_duration_s, max_bytes=max_bytes)
    duration = len(samples) / TARGET_SAMPLE_RATE
    if duration > max_duration_s:
        raise _too_long(max_duration_s, duration)
    if duration < min_duration_s:
        raise AudioError(
            AUDIO_TOO_SHORT,
            f"Your voice message is only {duration * 1000:.0f} ms long: I couldn't hear anything. "
            f"Could you record it again?",
        )
    if is_silent(samples, silence_threshold_db):
        raise AudioError(
            AUDIO_SILENT, "Your voice message is silent: I couldn't hear anything. Could you record it again?"
        )
    return DecodedAudio(
        samples=samples, sha256=sha256 or hashlib.sha256(data).hexdigest(), source=source
    )
