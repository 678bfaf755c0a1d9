"""What reports know about metrics and metadata: direction of "better", headline metrics, which ``extra``
fields change the meaning of a number.

Suites own these facts; this module only supplies fallbacks for records that leave them out (a record's own
``higher_is_better`` always wins), so that reports stay fast and never import a suite (and torch) to render.
"""

from __future__ import annotations

import math

# ``extra`` fields that make two numbers different measurements. Row metadata becomes table rows (a FID at
# 10 steps is not a FID at 80 steps); column metadata belongs to a model's column (EBM scored by -E(x)).
ROW_META: tuple[str, ...] = ("extractor", "steps", "norm", "epsilon")
COLUMN_META: tuple[str, ...] = ("score", "threat_model")
META: tuple[str, ...] = ROW_META + COLUMN_META

# Fields that must agree before a baseline and a candidate number may be compared.
COMPARABILITY: tuple[str, ...] = ("suite_version", "dataset", "extractor")

META_LABELS: dict[str, str] = {"extractor": "extractor", "steps": "steps", "norm": "norm", "epsilon": "ε",
                               "score": "score", "threat_model": "threat model"}

# Direction of "better" for metrics whose records do not say (None: no direction, e.g. a mean energy).
DIRECTIONS: dict[str, bool] = {
    "fid": False, "kid": False, "kid_mean": False, "inception_score": True, "is": True, "precision": True,
    "recall": True, "auroc": True, "aupr_in": True, "aupr_out": True, "fpr95": False, "accuracy": True,
    "robust_accuracy": True, "clean_accuracy": True,
    "train_test_gap": False, "noise_margin": True, "bits_per_dim": False,
}

# Headline metric of the built-in suites; other suites are asked through the registry.
HEADLINES: dict[str, str] = {"energy": "train_test_gap", "quality": "fid", "ood": "auroc",
                             "robustness": "robust_accuracy"}


def direction(metric: str, higher_is_better: bool | None) -> bool | None:
    """The record's own direction if it has one, else the known direction of the metric's name, else None."""
    if higher_is_better is not None and not _is_nan(higher_is_better):
        return bool(higher_is_better)
    return DIRECTIONS.get(metric)


def arrow(higher_is_better: bool | None) -> str:
    """↑ for higher-is-better, ↓ for lower-is-better, nothing when a metric has no direction."""
    if higher_is_better is None:
        return ""
    return "↑" if higher_is_better else "↓"


def headline(suite: str) -> str | None:
    """The suite's headline metric: built-in table first (no import), then the suite class itself."""
    if suite in HEADLINES:
        return HEADLINES[suite]
    try:
        from ebmbench.registries import SUITES

        return getattr(SUITES.get(suite), "headline", None) or None
    except Exception:  # an unknown or broken suite still gets a report, just without a headline
        return None


def meta_text(value: object) -> str:
    """A metadata value as table text (floats compactly, missing as empty)."""
    if value is None or _is_nan(value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)
