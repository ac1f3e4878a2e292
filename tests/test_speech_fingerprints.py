"""New weights in the same model folder retrain: the speech components fingerprint their folders."""

from pathlib import Path

from components.audio.asr import default_whisper_model_path
from components.fingerprint import hash_paths
from components.speech_featurizer import SpeechFeaturizer
from components.speech_transcriber import SpeechTranscriber


def model_folder(folder: Path, weights: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text("sample_rate: 16000\n")
    (folder / "model.bin").write_bytes(weights)
    return folder


def test_whisper_model_folder_content_is_fingerprinted(tmp_path: Path):
    folder = model_folder(tmp_path / "whisper", b"weights v1")
    config = {"model_path": str(folder)}
    before = SpeechTranscriber.fingerprint_addon(config)
    assert before is not None and SpeechTranscriber.fingerprint_addon(dict(config)) == before
    (folder / "model.bin").write_bytes(b"weights v2")
    assert SpeechTranscriber.fingerprint_addon(config) != before


def test_default_whisper_model_is_fingerprinted():
    assert SpeechTranscriber.fingerprint_addon({}) == hash_paths([str(default_whisper_model_path())])


def test_speechbrain_source_folder_is_fingerprinted(tmp_path: Path):
    folder = model_folder(tmp_path / "asr", b"ckpt v1")
    config = {"backend": "speechbrain", "source": str(folder)}
    before = SpeechTranscriber.fingerprint_addon(config)
    (folder / "extra.ckpt").write_bytes(b"a new checkpoint")
    assert before is not None and SpeechTranscriber.fingerprint_addon(config) != before


def test_speech_encoder_folder_is_fingerprinted(tmp_path: Path):
    assert SpeechFeaturizer.fingerprint_addon(SpeechFeaturizer.get_default_config()) is None
    folder = model_folder(tmp_path / "encoder", b"encoder v1")
    config = {**SpeechFeaturizer.get_default_config(), "encoder_source": str(folder)}
    before = SpeechFeaturizer.fingerprint_addon(config)
    (folder / "model.bin").write_bytes(b"encoder v2")
    assert before is not None and SpeechFeaturizer.fingerprint_addon(config) != before
