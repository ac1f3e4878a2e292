"""Whisper's encoder on the speech plus a margin instead of the 30 s window (components/audio/short_window.py),
with the real bundled Whisper tiny.en and flite speech."""

from typing import Dict, List

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


def test_messages_transcribed_at_once_keep_their_own_window_and_words(clip, monkeypatch):
    """Media workers share one backend. Each message is encoded with its own window (a short one's
    never cuts a long one's: the long message's last sentence lies past that cut) and decoded from
    its own audio (transcriptions are serialised per model, components/audio/asr.py says why).
    Distinct sentences, so that Whisper's fallback for repeated text is not set off."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from faster_whisper import WhisperModel

    frames_by_thread: Dict[int, List[int]] = {}
    original = WhisperModel.encode

    def encode(self, features: np.ndarray):
        frames_by_thread.setdefault(threading.get_ident(), []).append(int(features.shape[-1]))
        return original(self, features)

    monkeypatch.setattr(WhisperModel, "encode", encode)
    # Different sentences, not one repeated: Whisper meets a repeated sentence with its
    # compression-ratio fallback (sampling at a higher temperature), which now and then garbled a
    # repeated-sentence message even with transcriptions serialised (CI of stop 22's change:
    # "My Partel or Iaved Light End...").
    sentences = [
        "My parcel arrived late and the box was open",
        "The courier left it outside in the rain",
        "Two of the glasses inside were broken",
        "I have already sent you photos of the damage",
        "Nobody answered my email from last week",
        "I would like to know when my money comes back",
        "Please send the refund to my credit card",
    ]
    long_clip = np.concatenate([load_audio(flite_wav(sentence, "rms")) for sentence in sentences])
    short_frames = short_window.window_frames(len(clip), TARGET_SAMPLE_RATE)
    assert short_frames is not None and short_frames < len(long_clip) * short_window.FRAMES_PER_SECOND // TARGET_SAMPLE_RATE
    backend = FasterWhisperBackend()

    def job(audio: np.ndarray):
        frames_by_thread[threading.get_ident()] = []
        text = backend.transcribe(audio).text
        return text, list(frames_by_thread[threading.get_ident()])

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [f.result() for f in [pool.submit(job, audio) for audio in (clip, long_clip) * 3]]
    for text, frames in results[0::2]:
        assert frames == [short_frames] and wer([SENTENCE], [text]) <= 0.1, (frames, text)
    for text, frames in results[1::2]:
        assert frames == [short_window.FULL_WINDOW_FRAMES], frames
        heard = text.lower()
        # Whole and its own: words from the start, middle and end, nothing of the short message,
        # and at most one word in ten wrong (flite's voice makes "parcel" "part all").
        assert all(word in heard for word in ("courier", "glasses", "refund", "credit card")), text
        assert "blender" not in heard and wer([" ".join(sentences)], [text]) <= 0.1, text
