"""A plain-text summary of a run's records, printed by the CLI after a run (the full reports live in
``ebmbench.reports``)."""

from __future__ import annotations

from collections.abc import Sequence

from ebmbench.records import Record
from ebmbench.registries import suite_spec, suite_specs


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def setting_keys(suite: str) -> tuple[str, ...]:
    """The ``extra`` keys that change what the suite's numbers mean (its spec's qualifiers); for a suite
    unknown here, those of every known suite."""
    spec = suite_spec(suite)
    if spec is not None:
        return spec.qualifier_keys()
    return tuple(dict.fromkeys(key for known in suite_specs() for key in known.qualifier_keys()))


def _setting(record: Record) -> str:
    """The record's qualifiers, shown beside its number so rows are never ambiguous."""
    parts = []
    for key in setting_keys(record.suite):
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


def health_lines(records: Sequence[Record]) -> list[str]:
    """The model-health verdicts of a run (``health_*`` records): one line per fired check, or one line saying
    that every check passed."""
    checks = [r for r in records if r.metric.startswith("health_")]
    if not checks:
        return []
    fired = [r for r in checks if r.value]
    if not fired:
        return [f"model health: {len(checks)} checks passed ({', '.join(r.metric[7:] for r in checks)})"]
    return [f"model health WARNING ({r.metric[7:]}): {r.extra.get('message', '')}" for r in fired]
