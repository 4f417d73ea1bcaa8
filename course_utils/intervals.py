"""Confidence intervals for the lessons' measured rates and means: Wilson for a proportion, a percentile
bootstrap for a mean. Each takes its own random generator; none touches the global RNG."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from course_utils.errors import BadInputError


def z_of(level: float) -> float:
    if not 0 < level < 1:
        raise BadInputError(f"level={level}: a confidence level is in (0, 1), e.g. 0.95.")
    return NormalDist().inv_cdf((1 + level) / 2)


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (stays inside [0, 1] and is sensible at k = 0 or k = n)."""
    if n < 1 or not 0 <= k <= n:
        raise BadInputError(f"k={k}, n={n}: need n >= 1 items and 0 <= k <= n correct.")
    z = z_of(level)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def bootstrap_interval(values, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement; own generator)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise BadInputError("no values to bootstrap; pass at least one.")
    if n_boot < 1:
        raise BadInputError(f"n_boot={n_boot}: resample at least once (1000 or more for a 95% interval).")
    z_of(level)
    means = x[np.random.default_rng(seed).integers(0, x.size, (n_boot, x.size))].mean(1)  # (n_boot,)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
