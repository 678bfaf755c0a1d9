"""Each suite's headline, one number per model: the report's summary and the leaderboard across run directories.

The number is the suite's headline metric at its layout's reference setting (the last column: the average over
OOD sets, the largest ε of the first norm, the most sampling steps), with the model's rows reduced as the layout
says: the model's own choices take their best (an OOD score, a defense), the adversary's their worst (threat
models). The record chosen keeps its interval and says which variant it is. Suites without a layout: the
headline metric's single record per model, or the best of several.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ebmbench.layout import Layout
from ebmbench.registries import suite_spec
from ebmbench.reports.cells import Cell, Row, Table
from ebmbench.reports.meta import arrow, declared, meta_text


@dataclass
class Headline:
    """One model's headline number in one suite, with where it comes from."""

    suite: str
    dataset: str
    model: str
    metric: str
    value: float
    pm: float | None
    setting: str  # the reference setting, e.g. "average over sets" or "linf ε=0.1"
    variant: str  # which row it is, e.g. the OOD score or "worst of 3 threat models"
    higher_is_better: bool | None
    run: str


def headlines(frame: pd.DataFrame) -> list[Headline]:
    """Every suite's headline per model, in order of appearance (suite, then model)."""
    out: list[Headline] = []
    for (suite, dataset), group in frame.groupby(["suite", "dataset"], sort=False, dropna=False):
        spec = suite_spec(str(suite))
        metric = spec.headline if spec is not None else None
        if metric is None:
            continue
        records = [_flat(r) for r in group[group["metric"] == metric].to_dict("records")]
        if not records:
            continue
        layout = next((lay for lay in spec.layouts if metric in lay.metrics), None)
        records, setting = _reference(layout, records)
        for model in dict.fromkeys(r["model"] for r in records):
            mine = [r for r in records if r["model"] == model]
            for key_run in dict.fromkeys(_seed_run(r) for r in mine):
                found = _headline(str(suite), str(dataset), metric, layout, setting,
                                  [r for r in mine if _seed_run(r) == key_run])
                if found is not None:
                    out.append(found)
    return out


def leaderboard_tables(frame: pd.DataFrame) -> list[Table]:
    """One table per suite and dataset: models ranked on the headline (best first), with intervals."""
    tables: dict[tuple[str, str], Table] = {}
    entries: dict[tuple[str, str], list[Headline]] = {}
    for h in headlines(frame):
        entries.setdefault((h.suite, h.dataset), []).append(h)
    for (suite, dataset), found in entries.items():
        hib = found[0].higher_is_better
        ranked = sorted(found, key=lambda h: -h.value if hib else h.value) if hib is not None else found
        label = _metric_label(suite, found[0].metric, hib)
        table = Table(title=f"Leaderboard: {suite} on {dataset}", label_headers=["rank", "model", "variant", "run"],
                      columns=[label])
        for rank, h in enumerate(ranked, 1):
            table.rows.append(Row([str(rank), h.model, h.variant, h.run], [Cell(h.value, h.pm)],
                                  higher_is_better=hib))
        settings = sorted({h.setting for h in found if h.setting})
        table.notes = [f"Ranked on {label}" + (f" at {', '.join(settings)}" if settings else "") + "; ± half-width "
                       "of the 95% interval. Ties within the intervals are not a ranking."]
        tables[(suite, dataset)] = table
    return list(tables.values())


def _reference(layout: Layout | None, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The records at the suite's reference setting, the same for every model (the first split value, the last
    column), and that setting as text."""
    setting = ""
    if layout is None:
        return records, setting
    if layout.split:
        first = records[0].get(layout.split[0])
        records = [r for r in records if r.get(layout.split[0]) == first]
        setting = meta_text(first)
    with_column = [r for r in records if _present(r.get(layout.columns))]
    if with_column:
        last = _last_column(layout, with_column)
        records = [r for r in with_column if r.get(layout.columns) == last]
        text = records[0].get(layout.column_label) if layout.column_label else None
        shown = str(text) if _present(text) else meta_text(last)
        place = "average over sets" if str(last) == "average" else layout.column_format.format(shown)
        setting = f"{setting} {place}".strip()
    return records, setting


def _headline(suite: str, dataset: str, metric: str, layout: Layout | None, setting: str,
              records: list[dict[str, Any]]) -> Headline | None:
    hib = _direction(suite, records[0])
    chosen, variant = _reduce(records, layout, hib)
    if chosen is None:
        return None
    return Headline(suite, dataset, str(chosen["model"]), metric, float(chosen["value"]), _pm(chosen), setting,
                    variant, hib, str(chosen.get("run", "")))


def _reduce(records: list[dict[str, Any]], layout: Layout | None, hib: bool | None
            ) -> tuple[dict[str, Any] | None, str]:
    """Reduce rows step by step (best or worst over each key, within the groups of the keys not yet reduced)."""
    steps = layout.reduce if layout is not None else ()
    rows = [(r, []) for r in records if math.isfinite(float(r["value"]))]
    if not rows:
        return None, ""
    for i, (key, how) in enumerate(steps):
        others = [k for k, _ in steps[i + 1:]]
        groups: dict[tuple, list[tuple[dict[str, Any], list[str]]]] = {}
        for rec, notes in rows:
            groups.setdefault(tuple(_value(rec, k) for k in others), []).append((rec, notes))
        rows = []
        for members in groups.values():
            rec, notes = _pick(members, how, hib)
            label = meta_text(_value(rec, key))
            named = layout.short(key, label) if layout is not None and label else None
            label = named[0] if named else label
            text = f"{how} of {len(members)}: {label}" if len(members) > 1 else label
            rows.append((rec, [*notes, text] if text else notes))
    rec, notes = _pick(rows, "best", hib) if len(rows) > 1 else rows[0]
    return rec, "; ".join(reversed(notes))


def _pick(members: list, how: str, hib: bool | None) -> tuple[dict[str, Any], list[str]]:
    if hib is None:
        return members[0]
    want_high = hib if how == "best" else not hib
    return (max if want_high else min)(members, key=lambda m: float(m[0]["value"]))


def _last_column(layout: Layout, records: list[dict[str, Any]]) -> Any:
    values = list(dict.fromkeys(r.get(layout.columns) for r in records))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return max(values)
    ends = [v for v in values if str(v) in layout.last]
    return ends[-1] if ends else values[-1]


def _metric_label(suite: str, metric: str, hib: bool | None) -> str:
    known = declared(suite, metric)
    return f"{known.label if known else metric} {arrow(hib)}".strip()


def _direction(suite: str, rec: dict[str, Any]) -> bool | None:
    hib = rec.get("higher_is_better")
    if _present(hib):
        return bool(hib)
    known = declared(suite, rec["metric"])
    return None if known is None else known.higher_is_better


def _seed_run(rec: dict[str, Any]) -> tuple:
    return (rec.get("run"),)


def _pm(rec: dict[str, Any]) -> float | None:
    pm = rec.get("pm")
    return float(pm) if _present(pm) else None


def _flat(rec: dict[str, Any]) -> dict[str, Any]:
    extra = rec.get("extra") if isinstance(rec.get("extra"), dict) else {}
    return {**extra, **{k: v for k, v in rec.items() if _present(v) or k not in extra}}


def _value(rec: dict[str, Any], key: str) -> Any:
    for part in key.split("|"):
        if _present(rec.get(part)):
            return rec.get(part)
    return None


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
