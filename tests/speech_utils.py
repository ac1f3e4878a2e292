"""Real speech for tests, made on the machine: flite / espeak-ng speak to WAV, ffmpeg converts.

Nothing is mocked: the audio is synthetic speech from Debian's TTS engines, in the containers a
customer's phone or browser would send.
"""

import hashlib
import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf

FLITE_VOICES = ("slt", "kal", "awb", "rms")

# ffmpeg arguments per target format (container, codec).
FORMATS = {
    "wav44k_stereo": ("wav", ["-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le"]),
    "flac": ("flac", ["-c:a", "flac"]),
    "ogg_opus": ("ogg", ["-c:a", "libopus", "-b:a", "32k"]),
    "mp3": ("mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
    "webm": ("webm", ["-c:a", "libopus", "-b:a", "32k"]),
    "m4a": ("m4a", ["-c:a", "aac", "-b:a", "64k"]),
}


def have(tool: str) -> bool:
    """Whether a command-line tool is installed."""
    return shutil.which(tool) is not None


def flite_wav(text: str, voice: str = "slt") -> bytes:
    """WAV bytes of ``text`` spoken by a flite voice (16 kHz mono for most voices)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "speech.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True)
        return out.read_bytes()


def espeak_wav(text: str, speed: int = 175, amplitude: int = 100, voice: str = "en-us") -> bytes:
    """WAV bytes from espeak-ng (22.05 kHz mono); ``speed`` in words per minute."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-a", str(amplitude), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        return out.read_bytes()


def convert(wav: bytes, fmt: str) -> bytes:
    """Re-encodes WAV bytes with ffmpeg into one of ``FORMATS``."""
    ext, args = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.wav", Path(d) / f"out.{ext}"
        src.write_bytes(wav)
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), *args, str(dst)],
            check=True,
            capture_output=True,
        )
        return dst.read_bytes()


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    """float samples -> 16-bit WAV bytes."""
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def silence_wav(seconds: float = 2.0, rate: int = 16000, noise: float = 0.0) -> bytes:
    """Digital silence (optionally with a very low noise floor) as WAV."""
    rng = np.random.default_rng(0)
    return wav_bytes((rng.standard_normal(int(seconds * rate)) * noise).astype(np.float32), rate)


def scale_wav(wav: bytes, gain: float) -> bytes:
    """The same WAV, ``gain`` times louder (clipped)."""
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return wav_bytes(np.clip(x * gain, -1.0, 1.0), sr)


def concat_wav(wav: bytes, times: int) -> bytes:
    """The same WAV repeated ``times`` times (long audio for limit tests)."""
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return wav_bytes(np.tile(x, times), sr)


@dataclass(frozen=True)
class FakeAttachment:
    """Duck-typed stand-in for ``components.media.attachment.Attachment`` (same attributes, real bytes)."""

    kind: str
    data: bytes
    mime: str = "audio/wav"
    sha256: str = ""
    source: Optional[str] = "voice.wav"
    name: Optional[str] = "voice.wav"


def audio_attachment(data: bytes, source: str = "voice.wav", mime: str = "audio/wav") -> FakeAttachment:
    """An audio attachment with its content hash, as the resolver would build it."""
    return FakeAttachment("audio", data, mime, hashlib.sha256(data).hexdigest(), source, source)


# ---- a real (tiny) speechbrain CTC model, built and trained locally ------------------------------

TINY_ASR_HPARAMS = """\
# Tiny character CTC recogniser: Fbank -> sentence mean/var norm -> CRDNN (1 CNN block, 1 GRU layer) -> chars
sample_rate: 16000
n_mels: 40
n_chars: {n_chars}
blank_index: 0

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

normalize: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence

model: !new:speechbrain.lobes.models.CRDNN.CRDNN
    input_shape: [null, null, !ref <n_mels>]
    cnn_blocks: 1
    cnn_channels: [8]
    inter_layer_pooling_size: [2]
    rnn_class: !name:speechbrain.nnet.RNN.GRU
    rnn_layers: 1
    rnn_neurons: 64
    rnn_bidirectional: True
    dnn_blocks: 1
    dnn_neurons: 64
    dropout: 0.0

lin: !new:speechbrain.nnet.linear.Linear
    input_size: 64
    n_neurons: !ref <n_chars>

log_softmax: !new:speechbrain.nnet.activations.Softmax
    apply_log: True

encoder: !new:speechbrain.nnet.containers.LengthsCapableSequential
    - !ref <compute_features>
    - !ref <normalize>
    - !ref <model>
    - !ref <lin>
    - !ref <log_softmax>

tokenizer: !new:speechbrain.dataio.encoder.CTCTextEncoder

decoding_function: !name:speechbrain.decoders.ctc_greedy_decode
    blank_id: !ref <blank_index>

modules:
    encoder: !ref <encoder>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <encoder>
        tokenizer: !ref <tokenizer>
"""


def build_tiny_speechbrain_asr(folder: Path, clips: dict, steps: int = 150, seed: int = 0) -> dict:
    """Writes ``hyperparams.yaml``, ``encoder.ckpt`` and ``tokenizer.ckpt`` for a tiny CTC model into ``folder``.

    ``clips`` maps a word to 16 kHz mono float32 samples; the model is trained (overfitted) on them
    for ``steps`` Adam steps so it has something real to say. Returns training stats.
    """
    import time

    import torch
    from hyperpyyaml import load_hyperpyyaml
    from speechbrain.dataio.encoder import CTCTextEncoder

    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for word in clips for c in word})
    tokenizer = CTCTextEncoder()
    tokenizer.insert_blank(index=0)
    tokenizer.update_from_iterable(chars, sequence_input=False)
    n_chars = len(tokenizer.lab2ind)
    tokenizer.expect_len(n_chars)
    yaml_text = TINY_ASR_HPARAMS.format(n_chars=n_chars)
    (folder / "hyperparams.yaml").write_text(yaml_text)
    hparams = load_hyperpyyaml(yaml_text)
    encoder = hparams["encoder"]

    words = list(clips)
    lengths = [len(clips[w]) for w in words]
    longest = max(lengths)
    wavs = torch.zeros(len(words), longest)
    for i, w in enumerate(words):
        wavs[i, : lengths[i]] = torch.from_numpy(np.asarray(clips[w], dtype=np.float32))
    wav_lens = torch.tensor([n / longest for n in lengths])
    targets = [torch.tensor(tokenizer.encode_sequence(list(w))) for w in words]
    target_lens = torch.tensor([len(t) for t in targets])
    flat_targets = torch.cat(targets)

    optimiser = torch.optim.Adam(encoder.parameters(), lr=3e-3)
    encoder.train()
    t0 = time.perf_counter()
    loss_value = float("nan")
    for _ in range(steps):
        log_probs = encoder(wavs, wav_lens)  # (batch, frames, chars)
        frames = log_probs.shape[1]
        input_lens = torch.clamp((wav_lens * frames).round().long(), max=frames)
        loss = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1), flat_targets, input_lens, target_lens, blank=0, zero_infinity=True
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        loss_value = float(loss.detach())
    encoder.eval()
    torch.save(encoder.state_dict(), folder / "encoder.ckpt")
    tokenizer.save(folder / "tokenizer.ckpt")
    return {"loss": loss_value, "seconds": time.perf_counter() - t0, "steps": steps}
