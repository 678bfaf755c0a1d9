"""OOD detection metrics with seeded bootstrap confidence intervals, vectorised over bootstrap replicates.

Convention (fixed): in-distribution is the positive class and scores point up (higher = more
in-distribution). AUROC is the area under the ROC curve; AUPR-IN the average precision with in-distribution
positive; AUPR-OUT the average precision with OOD positive and the scores negated; FPR@95TPR the fraction of
OOD examples accepted at the highest threshold that accepts at least 95% of the in-distribution examples.
Intervals come from a stratified bootstrap (in- and out-of-distribution resampled separately), seeded: the
central 95% of the replicates after shifting them so that their median is the point estimate (see
``percentile_interval``). The in-distribution resamples are shared by every OOD set of a score, so that the
mean over sets gets a correct interval. Coverage is tested against known population values (about 95% for
AUROC and FPR@95TPR, a little under for the AUPRs, whose small-sample bias the shift only partly corrects).
Ties are handled exactly as scikit-learn's ``roc_auc_score``, ``average_precision_score`` and the full
(``drop_intermediate=False``) ``roc_curve`` handle them; the tests check equality with those functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebmbench.spec import Metric

# Declared here, beside their computation in ``_Ranking.metrics`` (torch-free, so the suite's spec reads them).
DETECTION: tuple[Metric, ...] = (Metric("auroc", True, "AUROC"), Metric("aupr_in", True, "AUPR-IN"),
                                 Metric("aupr_out", True, "AUPR-OUT"), Metric("fpr95", False, "FPR@95TPR"))
METRICS: tuple[str, ...] = tuple(m.name for m in DETECTION)
TPR_LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A metric's point estimate, its bootstrap percentile interval and the bootstrap replicates."""

    value: float
    ci: tuple[float, float]
    replicates: np.ndarray


class _Ranking:
    """The pooled scores sorted once, descending, with their tie groups: every bootstrap replicate is then a
    vector of multiplicities over the same order, so no replicate needs sorting again."""

    def __init__(self, scores_in: np.ndarray, scores_out: np.ndarray) -> None:
        scores = np.concatenate([scores_in, scores_out]).astype(np.float64)
        self.order = np.argsort(-scores, kind="stable")
        s = scores[self.order]
        self.positive = (self.order < len(scores_in)).astype(np.float64)
        n = len(s)
        last = np.ones(n, dtype=bool)
        last[:-1] = s[1:] != s[:-1]
        first = np.ones(n, dtype=bool)
        first[1:] = last[:-1]
        idx = np.arange(n)
        self.group_end = np.minimum.accumulate(np.where(last, idx, n - 1)[::-1])[::-1]
        self.group_start = np.maximum.accumulate(np.where(first, idx, 0))

    def metrics(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """The four metrics for each row of multiplicities (R, n) given in the original (in, out) order."""
        w = weights[:, self.order]
        pos, neg = w * self.positive, w * (1 - self.positive)
        tp, fp = np.cumsum(pos, 1), np.cumsum(neg, 1)
        n_pos, n_neg = tp[:, -1:], fp[:, -1:]
        tp_end, fp_end = tp[:, self.group_end], fp[:, self.group_end]
        fp_before = np.where(self.group_start > 0, fp[:, self.group_start - 1], 0.0)
        below = n_neg - fp_end + 0.5 * (fp_end - fp_before)  # OOD scored lower, ties counting one half
        auroc = (pos * below).sum(1) / (n_pos[:, 0] * n_neg[:, 0])
        aupr_in = _average_precision(pos, tp_end, fp_end, n_pos)
        first_ok = np.argmax(tp_end / n_pos >= TPR_LEVEL - 1e-12, axis=1)
        fpr95 = np.take_along_axis(fp_end, first_ok[:, None], 1)[:, 0] / n_neg[:, 0]
        # OOD positive, scores negated: the same groups in reverse order
        rev_pos, rev_neg = neg[:, ::-1], pos[:, ::-1]
        rev_end = len(self.order) - 1 - self.group_start[::-1]
        tp_o, fp_o = np.cumsum(rev_pos, 1)[:, rev_end], np.cumsum(rev_neg, 1)[:, rev_end]
        aupr_out = _average_precision(rev_pos, tp_o, fp_o, n_neg)
        return {"auroc": auroc, "aupr_in": aupr_in, "aupr_out": aupr_out, "fpr95": fpr95}


def _average_precision(pos: np.ndarray, tp_end: np.ndarray, fp_end: np.ndarray, n_pos: np.ndarray) -> np.ndarray:
    """sum over positives of the precision at their tie group's threshold, divided by the number of positives."""
    precision = np.divide(tp_end, tp_end + fp_end, out=np.zeros_like(tp_end), where=(tp_end + fp_end) > 0)
    return (pos * precision).sum(1) / n_pos[:, 0]


def detection_metrics(scores_in: np.ndarray, scores_out: np.ndarray) -> dict[str, float]:
    """The four metrics of one pair of score arrays."""
    ranking = _Ranking(np.asarray(scores_in), np.asarray(scores_out))
    return {k: float(v[0]) for k, v in ranking.metrics(np.ones((1, len(ranking.order)))).items()}


def weighted_metrics(scores_in: np.ndarray, scores_out: np.ndarray, weights_in: np.ndarray,
                     weights_out: np.ndarray) -> dict[str, np.ndarray]:
    """The four metrics for each row of multiplicities, (R, n_in) and (R, n_out): the bootstrap's inner step,
    also used by ``ebmbench compare`` to resample two runs' scores with the same draws (a paired test)."""
    ranking = _Ranking(np.asarray(scores_in, np.float64), np.asarray(scores_out, np.float64))
    return ranking.metrics(np.concatenate([weights_in, weights_out], axis=1))


def bootstrap_counts(rng: np.random.Generator, n: int, replicates: int) -> np.ndarray:
    """(replicates, n) multiplicities of n items drawn n times with replacement."""
    idx = rng.integers(0, n, size=(replicates, n)) + n * np.arange(replicates)[:, None]
    return np.bincount(idx.ravel(), minlength=replicates * n).reshape(replicates, n).astype(np.float64)


def evaluate(scores_in: np.ndarray, scores_out: np.ndarray, replicates: int, seed: int,
             level: float = 0.95, chunk: int = 100, seed_out: int | None = None) -> dict[str, Estimate]:
    """Point estimates on the given scores and percentile intervals from ``replicates`` stratified bootstrap
    resamples (in- and out-of-distribution resampled separately), reproducible from ``seed``.

    Given ``seed_out``, the OOD resamples draw from their own generator and the in-distribution resamples from
    ``seed`` alone: several OOD sets scored against one in-distribution set then share its resamples, so that
    the replicates of their mean (``average``) carry the in-distribution set's variation once, as the mean's
    estimate does (with independent resamples the mean's interval covered the truth 85% of the time instead of
    95%)."""
    scores_in, scores_out = np.asarray(scores_in, np.float64), np.asarray(scores_out, np.float64)
    if len(scores_in) == 0 or len(scores_out) == 0:
        raise ValueError("both the in-distribution and the OOD set need at least one score")
    ranking = _Ranking(scores_in, scores_out)
    point = {k: float(v[0]) for k, v in ranking.metrics(np.ones((1, len(ranking.order)))).items()}
    rng = np.random.default_rng(seed)
    rng_out = rng if seed_out is None else np.random.default_rng(seed_out)
    reps: dict[str, list[np.ndarray]] = {k: [] for k in METRICS}
    for start in range(0, replicates, chunk):
        r = min(chunk, replicates - start)
        counts = np.concatenate([bootstrap_counts(rng, len(scores_in), r),
                                 bootstrap_counts(rng_out, len(scores_out), r)], axis=1)
        for k, v in ranking.metrics(counts).items():
            reps[k].append(v)
    out = {}
    for k in METRICS:
        values = np.concatenate(reps[k]) if replicates else np.array([point[k]])
        out[k] = Estimate(point[k], percentile_interval(values, point[k], level), values)
    return out


def percentile_interval(values: np.ndarray, point: float, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of the bootstrap replicates after shifting them so that their
    median is the point estimate, clipped to [0, 1].

    Resampling duplicates examples, and duplicates form ties that raise average precision, so AUPR replicates
    sit above the estimate (for AUROC the shift is negligible); without the shift a plain percentile interval
    can miss the estimate altogether. With it the interval always contains the estimate.
    """
    tail = 100 * (1 - level) / 2
    low, median, high = np.percentile(values, [tail, 50, 100 - tail])
    shift = point - median
    return float(np.clip(low + shift, 0, 1)), float(np.clip(high + shift, 0, 1))


def average(estimates: list[Estimate], level: float = 0.95) -> Estimate:
    """The mean over OOD sets, its interval from the mean of the sets' bootstrap replicates (which share the
    in-distribution resamples: see ``evaluate``'s ``seed_out``)."""
    value = float(np.mean([e.value for e in estimates]))
    size = min(len(e.replicates) for e in estimates)
    replicates = np.mean([e.replicates[:size] for e in estimates], axis=0)
    return Estimate(value, percentile_interval(replicates, value, level), replicates)
