"""SpeechFeaturizer: one fixed-width voice vector per message, that moves with how things were said."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.audio.loading import decode_attachment_audio, load_audio
from components.audio.prosody import N_PROSODY, PROSODY_FEATURE_NAMES
from components.constants import ATTACHMENT_ERRORS, DECODED_AUDIO, MEDIA, SPEECH_FEATURES, TRANSCRIPT
from components.media.errors import AUDIO_SILENT
from components.speech_featurizer import SpeechFeaturizer
from tests.speech_utils import (
    audio_attachment,
    build_tiny_speechbrain_asr,
    convert,
    espeak_wav,
    flite_wav,
    have,
    scale_wav,
    silence_wav,
)

pytestmark = pytest.mark.skipif(not (have("flite") and have("espeak-ng")), reason="needs flite and espeak-ng")

TEXT_SPOKEN = "where is my order, I have been waiting for two weeks"
WIDTH = 2 * 40 + N_PROSODY + 1


def make(tmp_path: Path, **config: Any) -> SpeechFeaturizer:
    return SpeechFeaturizer.create(
        {**SpeechFeaturizer.get_default_config(), **config},
        LocalModelStorage(tmp_path / "storage"),
        Resource("speech_features"),
        ExecutionContext(GraphSchema({}), "f"),
    )


def voice(data: bytes, text: str = "hello") -> Message:
    m = Message(data={TEXT: text})
    m.set(MEDIA, [audio_attachment(data)])
    return m


def vector(message: Message) -> np.ndarray:
    _, sentence = message.get_dense_features(TEXT, [SPEECH_FEATURES])
    assert sentence is not None
    return sentence.features


@pytest.fixture(scope="module")
def featurizer(tmp_path_factory) -> SpeechFeaturizer:
    return make(tmp_path_factory.mktemp("feat"))


def test_width_is_fixed_with_and_without_audio(featurizer: SpeechFeaturizer):
    with_audio, without = voice(flite_wav(TEXT_SPOKEN)), Message(data={TEXT: "just typing"})
    featurizer.process([with_audio, without])
    a, b = vector(with_audio), vector(without)
    assert a.shape == b.shape == (1, WIDTH) == (1, featurizer.width)
    assert a[0, -1] == 1.0 and b[0, -1] == 0.0 and not b.any()
    assert np.isfinite(a).all() and np.abs(a[0, :-1]).max() < 20
    assert len(featurizer.feature_names()) == WIDTH


def test_training_data_gets_the_same_width(featurizer: SpeechFeaturizer):
    examples = [voice(espeak_wav("cancel my card"), "cancel my card"), Message(data={TEXT: "hi", "intent": "greet"})]
    featurizer.process_training_data(TrainingData(training_examples=examples))
    assert {vector(e).shape for e in examples} == {(1, WIDTH)}
    assert vector(examples[0])[0, -1] == 1.0


def _prosody(v: np.ndarray, name: str) -> float:
    return float(v[0, 80 + PROSODY_FEATURE_NAMES.index(name)])


def test_faster_and_louder_speech_move_the_features(featurizer: SpeechFeaturizer):
    slow, fast = voice(espeak_wav(TEXT_SPOKEN, 120)), voice(espeak_wav(TEXT_SPOKEN, 250))
    wav = flite_wav(TEXT_SPOKEN, "kal")
    quiet, loud = voice(scale_wav(wav, 0.2)), voice(wav)
    featurizer.process([slow, fast, quiet, loud])
    assert _prosody(vector(fast), "speaking_rate") > 1.5 * _prosody(vector(slow), "speaking_rate")
    assert _prosody(vector(loud), "energy_mean_db") > _prosody(vector(quiet), "energy_mean_db") + 0.2
    # louder speech raises every log-mel band's mean
    assert (vector(loud)[0, :40] > vector(quiet)[0, :40]).all()


def test_transcript_word_count_drives_words_per_second(featurizer: SpeechFeaturizer):
    wav = espeak_wav(TEXT_SPOKEN, 175)
    without, with_transcript = voice(wav), voice(wav)
    with_transcript.set(TRANSCRIPT, {"text": TEXT_SPOKEN, "language": "en", "confidence": 0.9, "duration": 3.0})
    featurizer.process([without, with_transcript])
    wps = _prosody(vector(with_transcript), "words_per_second") * 4
    duration = len(load_audio(wav)) / 16000
    assert 11 / duration < wps < 11 / (duration - 0.8)  # 11 words over the speech span


def test_an_order_number_in_the_transcript_counts_as_one_word(featurizer: SpeechFeaturizer):
    wav = espeak_wav("order 12345", 175)
    m = voice(wav)
    m.set(TRANSCRIPT, {"text": "order 12345", "language": "en", "confidence": 0.9, "duration": 2.0})
    featurizer.process([m])
    np.testing.assert_allclose(vector(m)[0], featurizer.vector(load_audio(wav), n_words=2), rtol=1e-5)


def test_reuses_the_transcribers_decoded_audio(featurizer: SpeechFeaturizer):
    wav = flite_wav("yes", "slt")
    other = flite_wav(TEXT_SPOKEN, "awb")
    m = voice(wav)
    m.set(DECODED_AUDIO, [decode_attachment_audio(other)])  # what a transcriber left on the message
    featurizer.process([m])
    direct = voice(other)
    featurizer.process([direct])
    np.testing.assert_allclose(vector(m), vector(direct), rtol=1e-5, atol=1e-6)


def test_bad_audio_alone_reports_and_gives_the_no_audio_vector(featurizer: SpeechFeaturizer):
    m = voice(silence_wav(2.0))
    featurizer.process([m])
    assert m.get(ATTACHMENT_ERRORS)[0]["code"] == AUDIO_SILENT
    assert vector(m).shape == (1, WIDTH) and not vector(m).any()
    # when a transcriber already decoded (and reported), nothing is reported twice
    m2 = voice(silence_wav(2.0))
    m2.set(DECODED_AUDIO, [])
    featurizer.process([m2])
    assert m2.get(ATTACHMENT_ERRORS) is None and not vector(m2).any()


def test_compressed_audio_gives_nearly_the_same_vector(featurizer: SpeechFeaturizer):
    wav = flite_wav(TEXT_SPOKEN, "rms")
    a, b = voice(wav), voice(convert(wav, "mp3"))
    featurizer.process([a, b])
    cos = float(vector(a)[0] @ vector(b)[0] / np.linalg.norm(vector(a)) / np.linalg.norm(vector(b)))
    assert cos > 0.98


def test_alias_is_the_feature_origin(tmp_path: Path):
    f = make(tmp_path, alias="voice")
    m = voice(flite_wav("yes"))
    f.process([m])
    assert m.get_dense_features(TEXT, ["voice"])[1].origin == ["voice"]  # combined features list origins
    assert m.get_dense_features(TEXT, [SPEECH_FEATURES])[1] is None


def test_local_speechbrain_encoder_extends_the_vector(tmp_path: Path):
    """Any local speechbrain interface with encode_batch: here a tiny CTC model built on the spot."""
    import torch

    torch.set_num_threads(1)
    folder = tmp_path / "encoder"
    build_tiny_speechbrain_asr(folder, {"yes": load_audio(flite_wav("yes"))}, steps=1)
    f = make(tmp_path, encoder_source=str(folder), encoder_interface="EncoderASR")
    assert f.encoder_dim == 4  # blank + "y", "e", "s": the mean frame posterior
    m, empty = voice(flite_wav("yes")), Message(data={TEXT: "typed"})
    f.process([m, empty])
    assert vector(m).shape == vector(empty).shape == (1, WIDTH + 4)
    assert np.abs(vector(m)[0, WIDTH - 1 : WIDTH + 3]).sum() > 0


def test_invalid_config(tmp_path: Path):
    with pytest.raises(InvalidConfigException, match="n_mels"):
        make(tmp_path, n_mels=0)
    with pytest.raises(InvalidConfigException, match="never downloaded"):
        make(tmp_path, encoder_source=str(tmp_path))
