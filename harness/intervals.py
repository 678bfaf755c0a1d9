"""Confidence intervals that the suites and reports share.

- ``wilson``: the Wilson score interval of a proportion (Wilson 1927). Unlike the normal (Wald) interval it
  never collapses to a point at 0 or 1 correct out of n and stays inside [0, 1]: 1 correct out of 80 gives
  [0.0022, 0.0675] where Wald gives [0, 0.037]. It equals
  ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` (tested).
- ``t_interval``: the mean of a few repeated measurements (e.g. a FID over several seeds) with its Student-t
  interval: the spread between seeds, not only within one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (successes may be fractional: a mean over
    draws of a stochastic defense, counted over ``n`` examples)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))  # rounding never excludes p


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` with its Student-t interval (a point for one value)."""
    from scipy import stats

    xs = [float(v) for v in values]
    if not xs:
        return (math.nan, math.nan, math.nan)
    mean = sum(xs) / len(xs)
    if len(xs) < 2:
        return (mean, mean, mean)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    if sd == 0:
        return (mean, mean, mean)
    low, high = stats.t.interval(confidence, len(xs) - 1, loc=mean, scale=sd / math.sqrt(len(xs)))
    return (mean, float(low), float(high))
