"""A plain-text summary of a run's records, printed by the CLI after a run (the full reports live in
``ebmbench.reports``)."""

from __future__ import annotations

from collections.abc import Sequence

from ebmbench.records import Record


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def summary_table(records: Sequence[Record]) -> str:
    """One line per record: model, eval set, metric, value and 95% interval."""
    if not records:
        return "(no results)"
    rows = [("model", "eval_set", "metric", "value", "95% CI")]
    for r in records:
        ci = f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]" if r.ci_low is not None else ""
        arrow = {True: " ↑", False: " ↓"}.get(r.higher_is_better, "") if r.higher_is_better is not None else ""
        rows.append((r.model, r.eval_set, r.metric + arrow, _fmt(r.value), ci))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
