"""Significance tests behind ``ebmbench compare``: is the candidate worse than the baseline, beyond chance?

Every test here is one-sided (the alternative is "the candidate is worse") and returns a p-value:

- ``bootstrap_test``: the difference of a statistic under a joint bootstrap, z = worsening / bootstrap standard
  error, p from the normal tail (the bootstrap test of pROC's ``roc.test``). Strata whose images are the same on
  both sides are resampled with the same draws (paired); strata with different images independently.
- ``mcnemar_exact``: exact McNemar test on per-example correctness of the same examples: among the discordant
  examples, the number the baseline got right and the candidate wrong is Binomial(discordant, 1/2) under no
  change (``scipy.stats.binomtest``).
- ``paired_t`` / ``welch``: Student's t on per-example differences; Welch's t across seeds or independent samples.
- ``holm``: Holm's step-down adjustment across a family of p-values (controls the family-wise error rate).

Only numpy and scipy: the reports never import torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TestResult:
    """A one-sided p-value for "the candidate is worse" and the name of the test that produced it."""

    p: float
    method: str


def worsening(base: float, cand: float, higher_is_better: bool) -> float:
    """How much worse the candidate is (positive: worse) in the metric's own direction."""
    return base - cand if higher_is_better else cand - base


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: the i-th smallest is multiplied by (m - i + 1), made
    non-decreasing in that order, and capped at 1. Rejecting where the adjusted value is below alpha controls
    the chance of any false alarm in the family at alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        adjusted[i] = running
    return adjusted


def mcnemar_exact(base_correct: np.ndarray, cand_correct: np.ndarray) -> TestResult:
    """Exact one-sided McNemar test on the same examples: p = P(X >= b), X ~ Binomial(b + c, 1/2), where b
    examples are right for the baseline only and c for the candidate only."""
    from scipy import stats

    base, cand = np.asarray(base_correct, bool), np.asarray(cand_correct, bool)
    b, c = int(np.sum(base & ~cand)), int(np.sum(~base & cand))
    if b + c == 0:
        return TestResult(1.0, "McNemar exact (no discordant examples)")
    p = stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue
    return TestResult(float(p), f"McNemar exact ({b} vs {c} discordant)")


def paired_t(base: np.ndarray, cand: np.ndarray, higher_is_better: bool) -> TestResult | None:
    """One-sided paired t-test on per-example values of the same examples (None when it cannot be computed)."""
    from scipy import stats

    diff = np.asarray(cand, float) - np.asarray(base, float)
    if len(diff) < 2:
        return None
    if np.all(diff == diff[0]):
        worse = -diff[0] if higher_is_better else diff[0]
        return TestResult(0.0 if worse > 0 else 1.0, "paired t (constant difference)")
    p = stats.ttest_rel(cand, base, alternative="less" if higher_is_better else "greater").pvalue
    return TestResult(float(p), f"paired t (n={len(diff)})")


def welch(base: Sequence[float], cand: Sequence[float], higher_is_better: bool, what: str = "seeds"
          ) -> TestResult | None:
    """One-sided Welch t-test of two independent samples (None with fewer than two values on a side or no
    spread on either)."""
    from scipy import stats

    a, b = np.asarray(base, float), np.asarray(cand, float)
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return None
    p = stats.ttest_ind(b, a, equal_var=False, alternative="less" if higher_is_better else "greater").pvalue
    return TestResult(float(p), f"Welch t over {what} ({len(a)} vs {len(b)})")


def bootstrap_test(point: tuple[float, float], reps_base: np.ndarray, reps_cand: np.ndarray,
                   higher_is_better: bool, paired: bool) -> TestResult:
    """z = observed worsening / standard deviation of the worsening over joint bootstrap replicates (the
    same resampling draws on both sides where the examples are the same); p = P(N(0, 1) >= z)."""
    from scipy import stats

    diff = worsening(np.asarray(reps_base, float), np.asarray(reps_cand, float), higher_is_better)
    observed = worsening(point[0], point[1], higher_is_better)
    sd = float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0
    kind = "paired bootstrap" if paired else "bootstrap, different images"
    if not math.isfinite(sd) or sd == 0.0:
        return TestResult(0.0 if observed > 0 else 1.0, f"{kind}, no spread ({len(diff)} resamples)")
    return TestResult(float(stats.norm.sf(observed / sd)), f"{kind} ({len(diff)} resamples)")


def bootstrap_counts(rng: np.random.Generator, n: int, replicates: int) -> np.ndarray:
    """(replicates, n) multiplicities of n items drawn n times with replacement."""
    idx = rng.integers(0, n, size=(replicates, n)) + n * np.arange(replicates)[:, None]
    return np.bincount(idx.ravel(), minlength=replicates * n).reshape(replicates, n).astype(np.float64)
