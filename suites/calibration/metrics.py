"""Calibration metrics of a classifier's predicted probabilities (numpy, float64).

- **ECE** (expected calibration error, Naeini et al. 2015; Guo et al. 2017): the confidence of a prediction is its
  top-class probability. Predictions fall into ``bins`` equal-width bins of confidence over [0, 1], right-closed:
  bin b holds confidences in (b/B, (b+1)/B] (the first bin also holds 0). ECE = sum over bins of
  (n_b / N) * |accuracy_b - mean confidence_b|. MCE is the largest such gap over non-empty bins.
- **NLL**: mean negative log-probability of the true label, in nats, from log-softmax of the logits (exact; no
  clipping).
- **Brier score**: mean over examples of sum over classes of (p_k - 1[y = k])^2, in [0, 2] (multiclass form of
  Brier 1950; scikit-learn's ``brier_score_loss`` with ``scale_by_half=False``).

Bootstrap intervals resample examples with replacement (seeded) and take the 2.5% and 97.5% percentiles of the
resampled metric; ECE's resamples are computed in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Bin of each confidence among ``bins`` equal-width right-closed bins over [0, 1] (0 goes to the first)."""
    idx = np.ceil(np.asarray(confidence, dtype=np.float64) * bins).astype(np.int64) - 1
    return np.clip(idx, 0, bins - 1)


@dataclass(frozen=True)
class Reliability:
    """Per-bin counts, accuracies and mean confidences (NaN for empty bins): the reliability diagram's data."""

    edges: np.ndarray
    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def ece(self) -> float:
        n = self.counts.sum()
        full = self.counts > 0
        return float((self.counts[full] / n * np.abs(self.accuracy[full] - self.confidence[full])).sum())

    @property
    def mce(self) -> float:
        full = self.counts > 0
        return float(np.abs(self.accuracy[full] - self.confidence[full]).max()) if full.any() else 0.0


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> Reliability:
    """Bin predictions by confidence; see the module docstring for the binning."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    idx = bin_index(confidence, bins)
    counts = np.bincount(idx, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=correct, minlength=bins) / counts
        conf = np.bincount(idx, weights=confidence, minlength=bins) / counts
    return Reliability(np.linspace(0.0, 1.0, bins + 1), counts, acc, conf)


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error with ``bins`` equal-width bins."""
    return reliability(confidence, correct, bins).ece


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels (nats)."""
    logp = log_softmax(logits)
    return float(-logp[np.arange(len(labels)), np.asarray(labels)].mean())


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Brier score: mean of sum_k (p_k - 1[y = k])^2."""
    return float(brier_per_example(probs, labels).mean())


def brier_per_example(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    onehot = np.eye(probs.shape[1])[np.asarray(labels)]
    return ((np.asarray(probs, dtype=np.float64) - onehot) ** 2).sum(axis=1)


@dataclass(frozen=True)
class Calibration:
    """Every calibration number of one classifier view, each with its 95% bootstrap interval."""

    n: int
    bins: int
    values: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    reliability: Reliability


def calibration(logits: np.ndarray, labels: np.ndarray, bins: int = 15, resamples: int = 1000,
                seed: int = 0) -> Calibration:
    """ECE, MCE, NLL, Brier, accuracy and mean confidence of ``logits`` against ``labels``, with bootstrap
    95% intervals (none when ``resamples`` is 0)."""
    labels = np.asarray(labels, dtype=np.int64)
    logp = log_softmax(logits)
    probs = np.exp(logp)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    per_example = {"nll": -logp[np.arange(len(labels)), labels], "brier": brier_per_example(probs, labels),
                   "accuracy": correct, "confidence": confidence}
    table = reliability(confidence, correct, bins)
    values = {"ece": table.ece, "mce": table.mce, **{k: float(v.mean()) for k, v in per_example.items()}}
    intervals: dict[str, tuple[float, float]] = {}
    if resamples > 0:
        idx = np.random.default_rng(seed).integers(0, len(labels), size=(resamples, len(labels)))
        ece_b, mce_b = _binned_resamples(bin_index(confidence, bins), confidence, correct, idx, bins)
        draws = {"ece": ece_b, "mce": mce_b, **{k: v[idx].mean(axis=1) for k, v in per_example.items()}}
        intervals = {k: (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))) for k, d in draws.items()}
    return Calibration(len(labels), bins, values, intervals, table)


def _binned_resamples(bins_of: np.ndarray, confidence: np.ndarray, correct: np.ndarray, idx: np.ndarray,
                      bins: int) -> tuple[np.ndarray, np.ndarray]:
    """ECE and MCE of every bootstrap resample (rows of ``idx``) in one pass of bincounts."""
    resamples, n = idx.shape
    flat = (np.arange(resamples)[:, None] * bins + bins_of[idx]).ravel()
    size = resamples * bins
    counts = np.bincount(flat, minlength=size).reshape(resamples, bins)
    acc = np.bincount(flat, weights=correct[idx].ravel(), minlength=size).reshape(resamples, bins)
    conf = np.bincount(flat, weights=confidence[idx].ravel(), minlength=size).reshape(resamples, bins)
    gap = np.abs(acc - conf)  # sums, so gap / count is the per-bin |accuracy - confidence|
    ece_b = gap.sum(axis=1) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        per_bin = np.where(counts > 0, gap / np.maximum(counts, 1), 0.0)
    return ece_b, per_bin.max(axis=1)
