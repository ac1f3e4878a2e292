"""Audio bombs (issue 12): a small file declaring a huge sample rate and channel count must not
decode to gigabytes. The loader streams (mono and 16 kHz block by block, samples counted against
the duration cap) and the resolver refuses absurd rates and channel counts before decoding."""

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from rasa.shared.nlu.constants import METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from components.attachment_resolver import AttachmentResolver
from components.audio.loading import load_audio
from components.constants import ATTACHMENT_ERRORS, MEDIA
from components.media.attachment import MediaReference
from components.media.errors import AUDIO_UNUSUAL_FORMAT, AttachmentError
from components.media.policy import MediaPolicy
from components.media.resolve import resolve_reference

ROOT = Path(__file__).resolve().parents[1]

# The bomb of issue 12: 59 s (under the 60 s cap) at 384 kHz in 8 channels.
BOMB_RATE, BOMB_CHANNELS, BOMB_SECONDS = 384_000, 8, 59


def bomb_flac(rate: int = BOMB_RATE, channels: int = BOMB_CHANNELS, seconds: int = BOMB_SECONDS) -> bytes:
    """Digital silence compresses to almost nothing: a few hundred kB that decode, at the file's
    own rate and channel count, to ``rate * channels * seconds`` float32 samples."""
    buffer = io.BytesIO()
    with sf.SoundFile(
        buffer, "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16",
        compression_level=0.0,  # the fastest encoder setting: seconds, not half a minute
    ) as f:
        second = np.zeros((rate, channels), dtype=np.int16)
        for _ in range(seconds):
            f.write(second)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


_MEASURE = """
import io, json, resource, sys
import numpy as np, soundfile as sf
from components.audio.loading import decode_attachment_audio, load_audio
from components.media.errors import AttachmentError

data = open(sys.argv[1], "rb").read()
small = io.BytesIO(); sf.write(small, np.full(48000, 0.1, dtype=np.float32), 48000, format="WAV")
load_audio(small.getvalue())  # the decoders and the resampler are imported and warmed up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
samples = load_audio(data)
growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
try:
    decode_attachment_audio(data)
    code = None
except AttachmentError as error:
    code = error.code
print(json.dumps({"bytes": len(data), "seconds": len(samples) / 16000, "growth_mb": growth_kb / 1024, "code": code}))
"""


def test_a_384k_8_channel_flac_decodes_in_bounded_memory(tmp_path):
    """Before: every block kept at 384 kHz x 8 channels, about 1.5 GB for this file. Measured in
    its own interpreter, so the peak (ru_maxrss) is this decode's alone."""
    bomb = tmp_path / "bomb.flac"
    bomb.write_bytes(bomb_flac())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(bomb)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print("audio bomb:", measured)
    assert measured["bytes"] < 1_000_000  # a small file...
    assert abs(measured["seconds"] - BOMB_SECONDS) < 0.05  # ...decoded in full, to 16 kHz mono
    assert measured["growth_mb"] < 200, measured  # 16 kHz mono is 3.8 MB; the old decode 1.5 GB
    assert measured["code"] == "audio_silent"  # a catalogue answer, not a crash


def test_streaming_downmix_and_resampling_keep_the_sound():
    """Blocks are resampled one after another: a tone spanning several blocks comes out as the
    same tone at 16 kHz, mixed down, with no seams at the block boundaries."""
    rate, seconds = 48_000, 30  # 1.44 M stereo frames: three soundfile blocks
    t = np.arange(rate * seconds) / rate
    tone = 0.4 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, np.zeros_like(tone)], axis=1).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, rate, format="FLAC", subtype="PCM_24")
    samples = load_audio(buffer.getvalue())
    assert abs(len(samples) - 16_000 * seconds) <= 2
    expected = 0.2 * np.sin(2 * np.pi * 440 * np.arange(len(samples)) / 16_000)  # mean of L and R
    inner = slice(1000, len(samples) - 1000)
    lag = int(np.argmax(np.correlate(samples[1000:2000], expected[990:2010], "valid"))) - 10
    assert abs(lag) <= 2
    error = np.abs(samples[inner] - np.roll(expected, lag)[inner])
    assert error.max() < 0.01, error.max()  # everywhere, block boundaries included


def resolve_audio(data: bytes, mime: str, policy: MediaPolicy = MediaPolicy()):
    reference = MediaReference(form="data", location=data_uri(data, mime), kind="audio")
    return resolve_reference(reference, policy)


def test_the_resolver_refuses_the_bomb_before_decoding():
    with pytest.raises(AttachmentError) as caught:
        resolve_audio(bomb_flac(seconds=2), "audio/flac")
    assert caught.value.code == AUDIO_UNUSUAL_FORMAT
    assert "192 kHz" in caught.value.message and "voice message" in caught.value.message
    # too many channels at an ordinary rate: refused for its channels
    many = io.BytesIO()
    sf.write(many, np.zeros((16_000, 9), dtype=np.float32), 16_000, format="WAV")
    with pytest.raises(AttachmentError) as caught:
        resolve_audio(many.getvalue(), "audio/wav")
    assert caught.value.code == AUDIO_UNUSUAL_FORMAT and "8 channels" in caught.value.message
    # Controls: the limits are the policy's, and ordinary recordings pass.
    assert resolve_audio(bomb_flac(seconds=2), "audio/flac", MediaPolicy(max_audio_sample_rate=400_000)).kind == "audio"
    stereo = io.BytesIO()
    sf.write(stereo, np.zeros((48_000, 2), dtype=np.float32), 48_000, format="WAV")
    assert resolve_audio(stereo.getvalue(), "audio/wav").mime == "audio/wav"


def test_the_refusal_reaches_the_parse_output(tmp_path, monkeypatch):
    """The first component answers with the catalogue entry; the bytes never reach a decoder."""
    (tmp_path / "data" / "media").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    resolver = AttachmentResolver({**AttachmentResolver.get_default_config()})
    message = Message(data={
        TEXT: "listen to this",
        METADATA: {"attachments": [{"type": "audio", "data": data_uri(bomb_flac(seconds=2), "audio/flac")}]},
    })
    [out] = resolver.process([message])
    assert out.get(MEDIA) == []
    assert [e["code"] for e in out.get(ATTACHMENT_ERRORS)] == [AUDIO_UNUSUAL_FORMAT]
    with pytest.raises(Exception, match="max_audio_channels"):
        AttachmentResolver({**AttachmentResolver.get_default_config(), "max_audio_channels": 0})
