"""A plain-text summary of a run's records, printed by the CLI after a run (the full reports live in
``ebmbench.reports``)."""

from __future__ import annotations

from collections.abc import Sequence

from ebmbench.records import Record

# ``extra`` fields that change what a number means; shown beside it so rows are never ambiguous
SETTING_KEYS = ("score", "extractor", "steps", "protocol", "threat_model", "norm", "epsilon")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _setting(record: Record) -> str:
    parts = []
    for key in SETTING_KEYS:
        value = record.extra.get(key)
        if value is not None:
            parts.append(f"{key}={_fmt(value) if isinstance(value, float) else value}")
    return " ".join(parts)


def summary_table(records: Sequence[Record]) -> str:
    """One line per record: model, eval set, metric, value, 95% interval and the settings behind it."""
    if not records:
        return "(no results)"
    rows = [("model", "eval_set", "metric", "value", "95% CI", "setting")]
    for r in records:
        ci = f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if r.ci_low is not None else ""
        arrow = {True: " ↑", False: " ↓"}.get(r.higher_is_better, "") if r.higher_is_better is not None else ""
        rows.append((r.model, r.eval_set, r.metric + arrow, _fmt(r.value), ci, _setting(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
