"""How something was said: loudness, pitch, speaking rate and pauses of a 16 kHz mono utterance.

Plain numpy, frame based (25 ms windows, 10 ms hop), so it is cheap next to ASR. Pitch is an
autocorrelation tracker with a voicing decision (normalised autocorrelation peak), which
``torchaudio.functional.detect_pitch_frequency`` lacks: unvoiced and silent frames are excluded from
the F0 statistics instead of contributing noise. Values are scaled to roughly unit range so a
classifier can use them next to log-mel statistics without extra normalisation.
"""

from typing import Dict, List, Optional

import numpy as np

from components.audio.limits import TARGET_SAMPLE_RATE as SAMPLE_RATE
HOP = 160  # 10 ms
WIN = 400  # 25 ms
PITCH_WIN = 640  # 40 ms: two periods of 50 Hz
F0_MIN, F0_MAX = 60.0, 400.0
VOICING_THRESHOLD = 0.45

PROSODY_FEATURE_NAMES: List[str] = [
    "log_duration",  # log(1 + seconds)
    "energy_mean_db",  # mean level of active frames, dBFS / 50
    "energy_std_db",  # spread of the level, dB / 20
    "energy_peak_db",  # loudest frame, dBFS / 50
    "f0_mean",  # log2(mean F0 / 100 Hz) over voiced frames
    "f0_std",  # F0 spread in semitones / 12
    "f0_range",  # (max - min) F0 in semitones / 24
    "voiced_ratio",  # voiced frames / speech-span frames
    "speaking_rate",  # voiced-segment onsets per second of speech span / 5 (about syllables per second)
    "words_per_second",  # transcript words / speech span / 4 (onset estimate when no transcript)
    "pause_ratio",  # silent frames inside the speech span / span frames
    "mean_pause_s",  # mean length of pauses >= 150 ms, seconds
]
N_PROSODY = len(PROSODY_FEATURE_NAMES)


def _frames(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """(n_frames, win) view with zero padding at the end."""
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n = 1 + (len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def frame_energy_db(x: np.ndarray) -> np.ndarray:
    """Per-frame RMS level in dBFS (25 ms window, 10 ms hop)."""
    f = _frames(x.astype(np.float64), WIN, HOP)
    return 10.0 * np.log10(np.mean(f * f, axis=1) + 1e-10)


def pitch_track(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """F0 in Hz per 10 ms frame, 0.0 where unvoiced (normalised autocorrelation, FFT based)."""
    f = _frames(x.astype(np.float64), PITCH_WIN, HOP)
    f = f - f.mean(axis=1, keepdims=True)
    f = f * np.hanning(PITCH_WIN)[None, :]
    n_fft = 1 << int(np.ceil(np.log2(2 * PITCH_WIN)))
    spec = np.fft.rfft(f, n=n_fft, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, n=n_fft, axis=1)[:, :PITCH_WIN]
    # normalise by the window's own autocorrelation so the peak height is a voicing strength in [0, 1]
    w = np.hanning(PITCH_WIN)
    wac = np.fft.irfft(np.abs(np.fft.rfft(w, n=n_fft)) ** 2, n=n_fft)[:PITCH_WIN]
    ac = ac / (ac[:, :1] + 1e-12) / (wac[None, :] / wac[0] + 1e-3)
    lo, hi = int(sr / F0_MAX), int(sr / F0_MIN)
    region = ac[:, lo:hi]
    lag = np.argmax(region, axis=1) + lo
    strength = region[np.arange(len(region)), lag - lo]
    f0 = sr / lag.astype(np.float64)
    return np.where(strength >= VOICING_THRESHOLD, f0, 0.0)


def _runs(mask: np.ndarray) -> List[tuple]:
    """(start, end) index pairs of True runs."""
    if mask.size == 0:
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def prosody_features(x: np.ndarray, sr: int = SAMPLE_RATE, n_words: Optional[int] = None) -> np.ndarray:
    """The ``PROSODY_FEATURE_NAMES`` vector (float32) for one utterance; zeros for empty input."""
    out = np.zeros(N_PROSODY, dtype=np.float32)
    if x.size < WIN:
        return out
    energy = frame_energy_db(x)
    peak = float(energy.max())
    active = energy > max(peak - 35.0, -60.0)
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return out
    first, last = int(idx[0]), int(idx[-1]) + 1
    span = max(last - first, 1)
    span_s = span * HOP / sr
    f0 = pitch_track(x, sr)
    n = min(len(f0), len(energy))
    f0, energy_n, active_n = f0[:n], energy[:n], active[:n]
    voiced = (f0 > 0) & active_n
    v = f0[voiced]
    onsets = len([r for r in _runs(voiced[first:last]) if r[1] - r[0] >= 3])  # >= 30 ms voiced
    pauses = [(e - s) * HOP / sr for s, e in _runs(~active[first:last]) if (e - s) * HOP / sr >= 0.15]
    values: Dict[str, float] = {
        "log_duration": float(np.log1p(len(x) / sr)),
        "energy_mean_db": float(energy_n[active_n].mean() / 50.0) if active_n.any() else 0.0,
        "energy_std_db": float(energy[active].std() / 20.0),
        "energy_peak_db": peak / 50.0,
        "f0_mean": float(np.log2(v.mean() / 100.0)) if v.size else 0.0,
        "f0_std": float((12 * np.log2(v / v.mean())).std() / 12.0) if v.size > 1 else 0.0,
        "f0_range": float(12 * np.log2(np.percentile(v, 95) / np.percentile(v, 5)) / 24.0) if v.size > 1 else 0.0,
        "voiced_ratio": float(voiced[first:last].sum() / span),
        "speaking_rate": onsets / span_s / 5.0,
        "words_per_second": ((n_words if n_words is not None else onsets / 1.5) / span_s) / 4.0,
        "pause_ratio": float((~active[first:last]).sum() / span),
        "mean_pause_s": float(np.mean(pauses)) if pauses else 0.0,
    }
    for i, name in enumerate(PROSODY_FEATURE_NAMES):
        out[i] = values[name]
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
