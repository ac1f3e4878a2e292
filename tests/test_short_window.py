"""Whisper's encoder on the speech plus a margin instead of the 30 s window (components/audio/short_window.py),
with the real bundled Whisper tiny.en and flite speech."""

from typing import List

import numpy as np
import pytest
from rasa.shared.exceptions import InvalidConfigException

import components.audio.asr as asr
import components.audio.short_window as short_window
from components.audio.asr import FasterWhisperBackend
from components.audio.limits import TARGET_SAMPLE_RATE
from components.audio.loading import load_audio
from components.audio.wer import wer
from components.speech_transcriber import SpeechTranscriber
from tests.speech_utils import concat_wav, flite_wav, have

pytestmark = pytest.mark.skipif(not (have("flite") and have("ffmpeg")), reason="needs flite and ffmpeg")

SENTENCE = "I would like to return the damaged blender from my last order"


@pytest.fixture()
def encoder_frames(monkeypatch) -> List[int]:
    """How many frames each call of faster-whisper's encoder is given (after the short window's cut)."""
    from faster_whisper import WhisperModel

    seen: List[int] = []
    original = WhisperModel.encode

    def encode(self, features: np.ndarray):
        seen.append(int(features.shape[-1]))
        return original(self, features)

    monkeypatch.setattr(WhisperModel, "encode", encode)
    return seen


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return load_audio(flite_wav(SENTENCE, "slt"))


def test_short_message_is_encoded_as_speech_plus_margin_and_heard_the_same(clip, encoder_frames):
    short, full = FasterWhisperBackend(), FasterWhisperBackend(short_window=False)
    heard_short = short.transcribe(clip).text
    short_frames = list(encoder_frames)
    heard_full = full.transcribe(clip).text
    assert short_frames == [short_window.window_frames(len(clip), TARGET_SAMPLE_RATE)]
    assert short_frames[0] < short_window.FULL_WINDOW_FRAMES
    assert encoder_frames[1:] == [short_window.FULL_WINDOW_FRAMES]
    assert wer([SENTENCE], [heard_short]) <= 0.1 and wer([SENTENCE], [heard_full]) <= 0.1
    # different transcripts may come from the two windows: they never share a cache entry
    assert short.backend_id != full.backend_id


def test_a_message_of_15_seconds_or_more_keeps_the_full_window(encoder_frames):
    long_clip = load_audio(concat_wav(flite_wav(SENTENCE, "kal"), 5))
    assert len(long_clip) / TARGET_SAMPLE_RATE >= 15
    text = FasterWhisperBackend().transcribe(long_clip).text
    assert encoder_frames and all(f == short_window.FULL_WINDOW_FRAMES for f in encoder_frames)
    assert "blender" in text.lower()


def test_an_unsound_short_pass_is_redone_on_the_full_window(clip, encoder_frames, monkeypatch):
    """A short pass that uses up its token budget (what a decoding loop does) is not kept: the
    customer's words come from the full window."""
    monkeypatch.setattr(asr, "token_budget", lambda seconds: 3)
    text = FasterWhisperBackend().transcribe(clip).text
    assert encoder_frames == [short_window.window_frames(len(clip), TARGET_SAMPLE_RATE), short_window.FULL_WINDOW_FRAMES]
    assert wer([SENTENCE], [text]) <= 0.1


def test_silence_is_kept_as_silence_not_retried(encoder_frames):
    text = FasterWhisperBackend().transcribe(np.zeros(2 * TARGET_SAMPLE_RATE, dtype=np.float32)).text
    assert len(encoder_frames) == 1 and len(text.split()) <= 3


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_short_window_must_be_a_boolean(value):
    config = {**SpeechTranscriber.get_default_config(), "short_window": value}
    with pytest.raises(InvalidConfigException, match="short_window must be true or false"):
        SpeechTranscriber.validate_config(config)


def test_the_window_is_per_thread_when_messages_are_transcribed_at_once(clip):
    """Media workers share one backend: a short message's window never cuts a long one's."""
    from concurrent.futures import ThreadPoolExecutor

    long_clip = load_audio(concat_wav(flite_wav(SENTENCE, "rms"), 5))
    backend = FasterWhisperBackend()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(backend.transcribe, audio) for audio in (clip, long_clip, clip, long_clip)]
        texts = [f.result().text for f in futures]
    assert wer([SENTENCE], [texts[0]]) <= 0.1 and wer([SENTENCE], [texts[2]]) <= 0.1
    for text in (texts[1], texts[3]):  # the sentence five times: all of it heard, not the first seconds
        assert wer([" ".join([SENTENCE] * 5)], [text]) <= 0.2, text
