"""The one percentile used by every evaluation and benchmark report (latency, real-time factor).

Linear interpolation between the two nearest samples (numpy's default), so p50 of an even-sized
sample is the mean of its two middle values; an empty sample gives NaN rather than an error, so a
benchmark section without successful requests still writes its report.
"""

from typing import Dict, Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (q in 0..100) of ``values``; NaN when there are none."""
    if not len(values):
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_ms(seconds: Sequence[float]) -> Dict[str, float]:
    """p50/p95 of durations given in seconds, in milliseconds rounded to 0.01 ms."""
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000.0, 2),
        "p95_ms": round(percentile(seconds, 95) * 1000.0, 2),
    }
