"""Prosody features move the way the speech moves: faster, louder, higher."""

import numpy as np
import pytest

from components.audio.loading import load_audio
from components.audio.prosody import N_PROSODY, PROSODY_FEATURE_NAMES, pitch_track, prosody_features
from tests.speech_utils import espeak_wav, flite_wav, have, scale_wav

pytestmark = pytest.mark.skipif(not (have("flite") and have("espeak-ng")), reason="needs flite and espeak-ng")

TEXT = "where is my order, I have been waiting for two weeks"
IDX = {n: i for i, n in enumerate(PROSODY_FEATURE_NAMES)}


def feats(wav: bytes, n_words=None) -> np.ndarray:
    return prosody_features(load_audio(wav), n_words=n_words)


def test_faster_speech_has_a_higher_speaking_rate():
    slow, fast = feats(espeak_wav(TEXT, 120)), feats(espeak_wav(TEXT, 250))
    assert fast[IDX["speaking_rate"]] > 1.5 * slow[IDX["speaking_rate"]]
    assert fast[IDX["log_duration"]] < slow[IDX["log_duration"]]
    # words per second from a transcript (11 words) also rises
    slow_w, fast_w = feats(espeak_wav(TEXT, 120), 11), feats(espeak_wav(TEXT, 250), 11)
    assert fast_w[IDX["words_per_second"]] > 1.5 * slow_w[IDX["words_per_second"]]


def test_louder_speech_has_higher_energy_and_same_pitch():
    wav = flite_wav(TEXT, "kal")
    quiet, loud = feats(scale_wav(wav, 0.2)), feats(wav)
    # 0.2 x amplitude = -14 dB
    assert (loud[IDX["energy_mean_db"]] - quiet[IDX["energy_mean_db"]]) * 50 == pytest.approx(14, abs=1.0)
    assert loud[IDX["f0_mean"]] == pytest.approx(quiet[IDX["f0_mean"]], abs=0.05)


def test_pitch_tracker_tells_a_female_voice_from_a_male_voice():
    f0_female = pitch_track(load_audio(flite_wav(TEXT, "slt")))
    f0_male = pitch_track(load_audio(flite_wav(TEXT, "kal")))
    assert 140 < np.median(f0_female[f0_female > 0]) < 260
    assert 70 < np.median(f0_male[f0_male > 0]) < 140


def test_a_pure_tone_has_the_right_pitch_and_no_pauses():
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    f0 = pitch_track(tone)
    assert np.median(f0[f0 > 0]) == pytest.approx(150, rel=0.03)
    p = prosody_features(tone)
    assert p.shape == (N_PROSODY,) and p[IDX["voiced_ratio"]] > 0.9 and p[IDX["pause_ratio"]] == 0.0


def test_empty_input_gives_zeros():
    assert not prosody_features(np.zeros(0, dtype=np.float32)).any()
