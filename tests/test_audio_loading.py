"""load_audio: every container a phone or browser sends decodes to 16 kHz mono; bad input fails clearly."""

import io

import numpy as np
import pytest
import soundfile as sf
from rasa.shared.nlu.training_data.message import Message

from components.audio.limits import AudioLimits
from components.audio.loading import DecodedAudio, decode_attachment_audio, decode_message_audio, is_silent, load_audio
from components.constants import ATTACHMENT_ERRORS, MEDIA
from components.media.errors import (
    AUDIO_EMPTY,
    AUDIO_SILENT,
    AUDIO_TOO_LONG,
    AUDIO_TOO_SHORT,
    CORRUPT,
    MESSAGES,
    TOO_LARGE,
    AttachmentError,
    make_error,
)
from components.media.policy import MediaPolicy
from tests.speech_utils import (
    FORMATS,
    audio_attachment,
    concat_wav,
    convert,
    espeak_wav,
    flite_wav,
    have,
    silence_wav,
    wav_bytes,
)

pytestmark = pytest.mark.skipif(not (have("flite") and have("ffmpeg")), reason="needs flite and ffmpeg")

SENTENCE = "where is my order 1 2 3 4 5"


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    return flite_wav(SENTENCE, "slt")


@pytest.fixture(scope="module")
def reference(speech_wav: bytes) -> np.ndarray:
    x, sr = sf.read(io.BytesIO(speech_wav), dtype="float32")
    assert sr == 16000 and x.ndim == 1
    return x


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_decodes_to_16k_mono_of_the_same_length(fmt: str, speech_wav: bytes, reference: np.ndarray):
    data = convert(speech_wav, fmt)
    samples = load_audio(data)
    assert samples.dtype == np.float32 and samples.ndim == 1
    ref_s, got_s = len(reference) / 16000, len(samples) / 16000
    # lossy codecs add priming/padding frames: tens of milliseconds, never a different length
    assert abs(got_s - ref_s) < 0.12, (fmt, ref_s, got_s)
    # and it is still the same speech: the loudness envelope correlates with the original
    n = min(len(samples), len(reference)) // 400 * 400
    env = lambda x: np.sqrt((x[:n].reshape(-1, 400) ** 2).mean(axis=1))  # noqa: E731
    shift = int(np.argmax(np.correlate(env(samples), env(reference), "full"))) - (n // 400 - 1)
    assert abs(shift) <= 3, (fmt, shift)
    assert np.corrcoef(np.roll(env(samples), -shift), env(reference))[0, 1] > 0.9


def test_stereo_44k_is_mixed_down_and_resampled(reference: np.ndarray):
    stereo = np.stack([reference, reference * 0.5], axis=1)
    import torch
    import torchaudio.functional as F

    up = F.resample(torch.from_numpy(stereo.T.copy()), 16000, 44100).T.numpy()
    samples = load_audio(wav_bytes(up, 44100))
    assert abs(len(samples) - len(reference)) <= 2
    expected = reference * 0.75  # mean of the two channels
    n = min(len(samples), len(expected)) - 1000
    assert np.abs(samples[1000:n] - expected[1000:n]).mean() < 0.01


def test_espeak_22k_is_resampled():
    samples = load_audio(espeak_wav("hello there", 175))
    info = sf.info(io.BytesIO(espeak_wav("hello there", 175)))
    assert info.samplerate == 22050
    assert abs(len(samples) / 16000 - info.duration) < 0.01


@pytest.mark.parametrize(
    "data",
    [b"RIFF\x24\x00\x00\x00WAVEfmt garbage", b"\x00" * 5000, b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 20],
    ids=["broken_wav_header", "zeros", "fake_mp3"],
)
def test_corrupt_bytes_raise_the_catalogue_error_without_exception_text(data: bytes):
    with pytest.raises(AttachmentError) as e:
        load_audio(data)
    assert e.value.code in (CORRUPT, AUDIO_EMPTY)
    # the customer reads the catalogue's words, never a decoder's exception name or text
    assert e.value.message == make_error(e.value.code, kind="audio").message
    assert "voice message" in e.value.message and "Error" not in e.value.message


def test_truncated_ogg_is_corrupt_or_shorter(speech_wav: bytes):
    data = convert(speech_wav, "ogg_opus")
    try:
        samples = load_audio(data[: len(data) // 3])
    except AttachmentError as e:
        assert e.code in (CORRUPT, AUDIO_EMPTY)
    else:
        assert len(samples) < len(load_audio(data))


def test_empty_and_too_large():
    with pytest.raises(AttachmentError) as e:
        load_audio(b"")
    assert e.value.code == AUDIO_EMPTY
    with pytest.raises(AttachmentError) as e:
        load_audio(b"x" * 2000, AudioLimits(max_bytes=1000))
    assert e.value.code == TOO_LARGE and "larger than 1 kB" in e.value.message


def test_the_byte_cap_is_the_resolvers():
    """A file the resolver accepts (20 MB) is never refused later for its size, and one over it is
    refused with the same limit in the message."""
    assert AudioLimits().max_bytes == MediaPolicy().max_audio_bytes
    with pytest.raises(AttachmentError) as e:
        load_audio(b"\0" * (MediaPolicy().max_audio_bytes + 1))
    assert e.value.code == TOO_LARGE and "20 MB" in e.value.message


@pytest.mark.parametrize("fmt", [None, "mp3", "webm"])
def test_too_long_audio_is_refused(speech_wav: bytes, fmt):
    long_wav = concat_wav(speech_wav, 5)  # ~14 s
    data = long_wav if fmt is None else convert(long_wav, fmt)
    with pytest.raises(AttachmentError) as e:
        load_audio(data, AudioLimits(max_duration_s=5.0))
    assert e.value.code == AUDIO_TOO_LONG and "the most I can listen to is 5 s" in e.value.message


def test_silence_and_too_short_are_reported(speech_wav: bytes):
    assert is_silent(load_audio(silence_wav(2.0, noise=0.001)))
    assert not is_silent(load_audio(speech_wav))
    with pytest.raises(AttachmentError) as e:
        decode_attachment_audio(silence_wav(2.0, noise=0.001))
    assert e.value.code == AUDIO_SILENT and e.value.message == MESSAGES[AUDIO_SILENT]
    with pytest.raises(AttachmentError) as e:
        decode_attachment_audio(wav_bytes(np.full(400, 0.3, dtype=np.float32)))
    assert e.value.code == AUDIO_TOO_SHORT and "only 25 ms long" in e.value.message


def test_decoded_audio_fingerprint_is_the_content_hash(speech_wav: bytes):
    d = decode_attachment_audio(speech_wav, source="v.wav")
    assert isinstance(d, DecodedAudio) and abs(d.duration - 2.735) < 0.01
    import hashlib

    assert d.sha256 == hashlib.sha256(speech_wav).hexdigest()
    assert d.sha256 in d.fingerprint()


def test_a_message_keeps_its_good_voice_notes_and_reports_the_others(speech_wav: bytes):
    message = Message(data={"text": ""})
    message.set(MEDIA, [audio_attachment(b"RIFFnot audio at all", "bad.wav"), audio_attachment(speech_wav, "ok.wav")])
    decoded = decode_message_audio(message, AudioLimits())
    assert [d.source for d in decoded] == ["ok.wav"]
    assert [(e["source"], e["code"]) for e in message.get(ATTACHMENT_ERRORS)] == [("bad.wav", CORRUPT)]
