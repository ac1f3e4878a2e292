"""The one audio loader: bytes of any supported format become checked 16 kHz mono float32.

Why two decoders: libsndfile (``soundfile``) reads WAV, FLAC and Ogg (Vorbis/Opus) exactly and fast;
PyAV (FFmpeg's libraries, installed with faster-whisper) reads what voice notes usually are
(MP3, WebM/Opus from browsers, M4A/AAC from phones) without needing an ``ffmpeg`` binary. Every
failure is an ``AttachmentError`` from the catalogue (``components/media/errors.py``): the cause goes
to the log, the customer gets the catalogue's message. ``decode_message_audio`` is what the speech
components call: it decodes a message's voice notes under one ``AudioLimits`` and records errors.
"""

import hashlib
import io
import logging
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from components.audio.limits import TARGET_SAMPLE_RATE, AudioLimits
from components.audio.prosody import frame_energy_db
from components.media import errors
from components.media.attachment import attachment_source, attachments_of_kind
from components.media.mime import AUDIO

logger = logging.getLogger(__name__)

__all__ = [
    "TARGET_SAMPLE_RATE",
    "DecodedAudio",
    "decode_attachment_audio",
    "decode_message_audio",
    "is_silent",
    "load_audio",
    "resample",
]


class _TooLong(Exception):
    """Raised inside the decoders as soon as the audio passes the limit; ``seconds`` when known."""

    def __init__(self, seconds: Optional[float] = None) -> None:
        super().__init__(seconds)
        self.seconds = seconds


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


# Bytes of decoded samples per soundfile block, whatever the channel count (about 4 MB).
_BLOCK_BYTES = 4 * 1024 * 1024


class _MonoStream:
    """Decoded blocks turned into mono at ``target_rate`` as they arrive, counted against the
    longest accepted duration: memory grows with the 16 kHz mono samples kept, never with the
    file's own rate or channel count (a 384 kHz, 8-channel FLAC is a 200-times-larger decode).

    Resampling is PyAV's (FFmpeg's swresample), which keeps its filter state between blocks,
    so cutting the stream into blocks leaves no seams; the PyAV decoder path uses the same."""

    def __init__(self, rate: int, target_rate: int, max_duration_s: float) -> None:
        self._rate = rate
        self._limit = int(max_duration_s * target_rate) + 1
        self._resampler = None
        if rate != target_rate:
            import av

            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
        self._chunks: List[np.ndarray] = []
        self._total = 0

    def _keep(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self._total += samples.size
        if self._total > self._limit:
            raise _TooLong()

    def _resampled(self, frames: list) -> None:
        for out in frames:
            self._keep(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))

    def add(self, block: np.ndarray) -> None:
        """One (frames, channels) or (frames,) block at the input rate."""
        mono = _to_mono(block)
        if self._resampler is None:
            self._keep(mono)
            return
        import av

        frame = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = self._rate
        self._resampled(self._resampler.resample(frame))

    def finish(self) -> np.ndarray:
        """All samples, the resampler's tail included."""
        if self._resampler is not None:
            self._resampled(self._resampler.resample(None))
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(self._chunks), dtype=np.float32)


def _decode_soundfile(data: bytes, max_duration_s: float, target_rate: int) -> Optional[np.ndarray]:
    """Decodes with libsndfile, block by block into 16 kHz mono; None when libsndfile does not
    know the format."""
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            # frames can be unknown (0 or huge) for some Ogg streams; the stream counts samples.
            if f.frames and f.frames > 0 and f.frames / rate > max_duration_s:
                raise _TooLong(f.frames / rate)
            stream = _MonoStream(rate, target_rate, max_duration_s)
            blocksize = max(1024, _BLOCK_BYTES // (4 * max(1, int(f.channels))))
            for block in f.blocks(blocksize=blocksize, dtype="float32", always_2d=True):
                stream.add(block)
            return stream.finish()
    except _TooLong:
        raise
    except Exception as e:  # libsndfile: unknown format or broken file -> let PyAV try
        logger.debug(f"soundfile could not decode audio: {e}")
        return None


def _decode_pyav(data: bytes, max_duration_s: float, target_rate: int) -> np.ndarray:
    """Decodes any container/codec FFmpeg knows, resampled to ``target_rate`` mono by swresample."""
    try:
        import av
    except ImportError as e:  # pragma: no cover - PyAV ships with faster-whisper
        logger.error("Decoding this audio format needs PyAV (`pip install av`).")
        raise errors.make_error(errors.CORRUPT, kind=AUDIO) from e

    limit = int(max_duration_s * target_rate) + 1
    chunks: List[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                logger.info("Audio attachment has no audio stream.")
                raise errors.make_error(errors.CORRUPT, kind=AUDIO)
            stream = container.streams.audio[0]
            if container.duration is not None and container.duration / 1_000_000 > max_duration_s + 0.5:
                raise _TooLong(container.duration / 1_000_000)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)

            def take(frames: list) -> None:
                nonlocal total
                for out in frames:
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
                if total > limit:
                    raise _TooLong()

            for frame in container.decode(stream):
                take(resampler.resample(frame))
            take(resampler.resample(None))
    except (_TooLong, errors.AttachmentError):
        raise
    except Exception as e:
        logger.info(f"PyAV could not decode an audio attachment: {type(e).__name__}: {e}")
        raise errors.make_error(errors.CORRUPT, kind=AUDIO) from e
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def load_audio(
    data: bytes, limits: Optional[AudioLimits] = None, target_rate: int = TARGET_SAMPLE_RATE
) -> np.ndarray:
    """Decodes audio bytes (WAV, FLAC, Ogg/Opus/Vorbis, MP3, WebM, M4A, ...) to mono float32 at ``target_rate``.

    Raises:
        AttachmentError: empty, too large, too long or undecodable input (catalogue codes
        ``audio_empty``, ``too_large``, ``audio_too_long``, ``corrupt``).
    """
    limits = limits or AudioLimits()
    if not data:
        raise errors.make_error(errors.AUDIO_EMPTY, kind=AUDIO)
    if len(data) > limits.max_bytes:
        raise errors.make_error(errors.TOO_LARGE, kind=AUDIO, limit=errors.human_size(limits.max_bytes))
    try:
        samples = _decode_soundfile(data, limits.max_duration_s, target_rate)
        if samples is None:
            samples = _decode_pyav(data, limits.max_duration_s, target_rate)
        if len(samples) / target_rate > limits.max_duration_s:
            raise _TooLong(len(samples) / target_rate)
    except _TooLong as e:
        limit = _seconds(limits.max_duration_s)
        length = f"{_seconds(e.seconds)} long" if e.seconds is not None else f"longer than {limit}"
        raise errors.make_error(errors.AUDIO_TOO_LONG, kind=AUDIO, length=length, limit=limit) from None
    if samples.size == 0:
        raise errors.make_error(errors.AUDIO_EMPTY, kind=AUDIO)
    if not np.all(np.isfinite(samples)):
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def is_silent(samples: np.ndarray, threshold_db: float = AudioLimits.silence_threshold_db) -> bool:
    """True when no 25 ms frame of 16 kHz audio rises above ``threshold_db`` dBFS (no speech anywhere)."""
    if samples.size == 0:
        return True
    return bool(frame_energy_db(samples).max() < threshold_db)


def decode_attachment_audio(
    data: bytes,
    sha256: Optional[str] = None,
    source: Optional[str] = None,
    limits: Optional[AudioLimits] = None,
) -> DecodedAudio:
    """``load_audio`` plus the checks a voice message must pass before it is worth transcribing."""
    limits = limits or AudioLimits()
    samples = load_audio(data, limits)
    duration = len(samples) / TARGET_SAMPLE_RATE
    if duration < limits.min_duration_s:
        raise errors.make_error(errors.AUDIO_TOO_SHORT, kind=AUDIO, length=_seconds(duration))
    if is_silent(samples, limits.silence_threshold_db):
        raise errors.make_error(errors.AUDIO_SILENT, kind=AUDIO)
    return DecodedAudio(samples=samples, sha256=sha256 or hashlib.sha256(data).hexdigest(), source=source)


def decode_message_audio(
    message: Any, limits: AudioLimits, max_count: Optional[int] = None
) -> List[DecodedAudio]:
    """The message's voice notes (the first ``max_count``) decoded and checked; each one that
    cannot be used becomes an ``attachment_errors`` entry (``record_error``) and is left out."""
    decoded: List[DecodedAudio] = []
    for attachment in attachments_of_kind(message, AUDIO)[:max_count]:
        source = attachment_source(attachment)
        try:
            decoded.append(
                decode_attachment_audio(
                    attachment.data, getattr(attachment, "sha256", None) or None, source, limits
                )
            )
        except errors.AttachmentError as error:
            logger.info(f"Voice message '{source}' not used: {error.code}")
            errors.record_error(message, error.with_source(source))
    return decoded
