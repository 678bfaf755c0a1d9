"""Spreads for display: the half-width of a record's confidence interval, or the standard deviation across
seeds when runs of the same model and configuration are aggregated (``--aggregate-seeds``)."""

from __future__ import annotations

import math
import statistics
from typing import Any

import pandas as pd

from ebmbench.numbers import none_if_nan
from ebmbench.reports.meta import declared, meta


def seed_key() -> tuple[str, ...]:
    """What identifies "the same model and configuration": everything but the seed and the run directory."""
    return ("suite", "suite_version", "dataset", "model", "options", "eval_set", "metric", "higher_is_better",
            *meta())


def with_spread(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``pm`` (half-width of the 95% interval, NaN without one), ``pm_kind`` and ``n_seeds`` columns."""
    out = frame.copy()
    out["pm"] = (out["ci_high"] - out["ci_low"]) / 2.0
    out["pm_kind"] = "ci"
    out["n_seeds"] = 1
    return out


def aggregate_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per model and configuration: the seeds combined as the metric's spec says (mean, or median),
    ``pm`` = standard deviation across seeds.

    A configuration seen with a single seed keeps its own confidence interval, so nothing pretends to a
    spread that was not measured.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    key = seed_key()
    for row in with_spread(frame).to_dict("records"):
        groups.setdefault(tuple(none_if_nan(row[c]) for c in key), []).append(row)  # NaN never equals itself
    rows = [_merge(members) for members in groups.values()]
    return pd.DataFrame(rows, columns=[*frame.columns, "pm", "pm_kind", "n_seeds"])


def _merge(members: list[dict[str, Any]]) -> dict[str, Any]:
    first = dict(members[0])
    if len(members) == 1:
        return first
    values = [float(m["value"]) for m in members]
    runs = sorted({str(m["run"]) for m in members})
    metric = declared(str(first["suite"]), str(first["metric"]))
    value = metric.aggregate(values) if metric is not None else statistics.fmean(values)
    first.update(value=value, pm=statistics.stdev(values), pm_kind="sd",
                 n_seeds=len(members), seed=None, ci_low=math.nan, ci_high=math.nan,
                 run=runs[0] if len(runs) == 1 else f"{len(runs)} runs")
    return first
