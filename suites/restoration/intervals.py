"""95% intervals for the restoration suite's numbers: Student-t for means over images, Wilson for accuracies."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def mean_interval(values: np.ndarray) -> tuple[float, float]:
    """Student-t 95% interval of the mean (a point when there is one value or no spread)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2 or float(x.std()) == 0.0:
        return mean, mean
    low, high = stats.t.interval(0.95, len(x) - 1, loc=mean, scale=stats.sem(x))
    return float(low), float(high)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion (stays inside [0, 1] and is not degenerate at the ends)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)
