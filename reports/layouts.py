"""Paper layouts: the tables a suite declares in its spec (``ebmbench.layout.Layout``), built from loaded records.

Rows are labelled by the layout's keys (model and score; model, defense and threat model), columns are the
values of its column key (OOD sets, ε, sampling steps), leading columns hold records without that key (clean
accuracy, the real-data floor). Long labels get short names, gathered into one legend for the whole report.
Records no layout shows stay in a generic table, so nothing disappears. Suites without layouts get the generic
tables of ``tables.py``. Nothing is recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ebmbench.layout import Layout
from ebmbench.registries import suite_spec
from ebmbench.reports.cells import Cell, Row, Table
from ebmbench.reports.meta import arrow, declared, meta_label, meta_text
from ebmbench.reports.tables import TABLE_KEY, build_tables

HEADERS: dict[str, str] = {"model": "model", "score_label": "score", "eval_set": "eval set"}


@dataclass
class Legend:
    """Short name -> (what it names, its meaning), in order of first use."""

    entries: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, key: str, short: str, meaning: str) -> None:
        self.entries.setdefault((header(key), short), meaning)

    def lines(self) -> list[str]:
        return [f"{short} ({what}): {meaning}" for (what, short), meaning in self.entries.items()]


def header(key: str) -> str:
    key = key.split("|")[0]
    return HEADERS.get(key) or meta_label(key).replace("_", " ")


def _value(rec: dict[str, Any], key: str) -> Any:
    """A record's field or extra key; ``a|b``: the first of them present (e.g. a score's label, else its name)."""
    for part in key.split("|"):
        if _present(rec.get(part)):
            return rec.get(part)
    return None


def paper_layout_tables(frame: pd.DataFrame, legend: Legend) -> list[Table]:
    """Every suite's paper tables (suites without layouts: generic tables), in order of appearance."""
    return [t for tables in suite_tables(frame, legend).values() for t in tables]


def suite_tables(frame: pd.DataFrame, legend: Legend) -> dict[str, list[Table]]:
    """Suite -> its paper tables (one group per version and dataset), suites in order of appearance."""
    out: dict[str, list[Table]] = {}
    for key, group in frame.groupby(list(TABLE_KEY), sort=False, dropna=False):
        tables = out.setdefault(str(key[0]), [])
        spec = suite_spec(str(key[0]))
        layouts = spec.layouts if spec is not None else ()
        shown = pd.Series(False, index=group.index)
        for layout in layouts:
            made, used = layout_tables(group, layout, legend, str(key[0]), str(key[2]))
            tables += made
            shown |= used
        rest = group[~shown]
        if len(rest):
            generic = build_tables(rest)
            if layouts:
                for table in generic:
                    table.title = f"{table.title}: other metrics"
            tables += generic
    return out


def layout_tables(frame: pd.DataFrame, layout: Layout, legend: Legend, suite: str, dataset: str
                  ) -> tuple[list[Table], pd.Series]:
    """The tables of one layout over one suite's records on one dataset, and which records they show."""
    rows = [_flat(r) for r in frame.to_dict("records")]
    index = list(frame.index)
    lead_of = [next((lead for lead in layout.leads if lead.selects(r["metric"], str(r["eval_set"]))), None)
               for r in rows]
    main = [i for i, r in enumerate(rows) if lead_of[i] is None and r["metric"] in layout.metrics
            and _present(_value(r, layout.columns))]
    leads = [i for i, r in enumerate(rows) if lead_of[i] is not None
             and (lead_of[i].metric or r["metric"] in layout.metrics)]
    used = pd.Series(False, index=frame.index)
    tables = []
    splits = list(dict.fromkeys(tuple(_value(rows[i], k) for k in layout.split) for i in main))
    for split in splits:
        members = [i for i in main if tuple(_value(rows[i], k) for k in layout.split) == split]
        table, shown = _table(layout, legend, suite, dataset, split, [rows[i] for i in members],
                              [(lead_of[i], rows[i]) for i in leads])
        tables.append(table)
        for i in members:
            used[index[i]] = True
        for i in leads:
            if id(rows[i]) in shown:
                used[index[i]] = True
    return tables, used


def _table(layout: Layout, legend: Legend, suite: str, dataset: str, split: tuple, records: list[dict[str, Any]],
           leads: list[tuple[Any, dict[str, Any]]]) -> tuple[Table, set[int]]:
    several = len(layout.metrics) > 1
    row_ids = _row_ids(layout, records, several)
    disamb = _disambiguators(layout, records, several)
    columns = _columns(layout, records)
    lead_labels = list(dict.fromkeys(lead.label for lead, r in leads))
    title = layout.title + "".join(f", {meta_text(v)}" for v in split if _present(v)) + f" ({dataset})"
    labels = [*(header(k) for k in layout.rows), *(["metric"] if several else []), *disamb]
    table = Table(title=title, label_headers=labels, columns=[*lead_labels, *columns.values()])
    cells: dict[tuple, dict[Any, dict[str, Any]]] = {}
    for rec in records:
        cells.setdefault(_row_id(layout, rec, several, disamb), {})[_norm(_value(rec, layout.columns))] = rec
    shown: set[int] = set()
    for rid in row_ids:
        sample = next(iter(cells[rid].values()))
        lead_cells = []
        for label in lead_labels:
            hit = [r for lead, r in leads if lead.label == label and _matches(lead.match, r, sample)]
            shown.update(id(r) for r in hit)
            lead_cells.append(_cell(hit[-1]) if hit else Cell())
        hib = _direction(suite, sample)
        row = Row(labels=[*(_label(layout, legend, k, _value(sample, k)) for k in layout.rows),
                          *([_metric_label(suite, sample["metric"], hib)] if several else []),
                          *(_disamb_text(k, sample.get(k)) for k in disamb)],
                  cells=[*lead_cells, *(_cell(cells[rid].get(c)) for c in columns)], higher_is_better=hib)
        table.rows.append(row)
    if layout.best == "column":
        _mark_column_best(table, [rid[-1] if several else None for rid in row_ids] if several else None)
    table.notes = _notes(layout, records)
    return table, shown


def _row_ids(layout: Layout, records: list[dict[str, Any]], several: bool) -> list[tuple]:
    """Distinct rows: models in order of appearance, named labels by their group and rule, metrics as declared."""
    disamb = _disambiguators(layout, records, several)
    ids = list(dict.fromkeys(_row_id(layout, r, several, disamb) for r in records))
    first: dict[tuple[int, Any], int] = {}
    for rid in ids:
        for pos, value in enumerate(rid):
            first.setdefault((pos, value), len(first))

    def order(rid: tuple) -> tuple:
        parts = []
        for pos, value in enumerate(rid):
            key = layout.rows[pos] if pos < len(layout.rows) else ""
            named = layout.short(key, str(value)) if key else None
            if pos == len(layout.rows) and several:
                parts.append((layout.metrics.index(value), ""))
            elif named:
                parts.append((named[2], named[3]))
            else:
                parts.append(("", first[(pos, value)]))
        return tuple(parts)

    return sorted(ids, key=order)


def _row_id(layout: Layout, rec: dict[str, Any], several: bool, disamb: list[str]) -> tuple:
    return (*(_norm(_value(rec, k)) for k in layout.rows), *([rec["metric"]] if several else []),
            *(_norm(rec.get(k)) for k in disamb))


def _disambiguators(layout: Layout, records: list[dict[str, Any]], several: bool) -> list[str]:
    """Seed, then run, as extra row labels when the layout's labels alone would put two records in one cell."""
    extra: list[str] = []
    for key in ("seed", "run"):
        seen: set[tuple] = set()
        clash = False
        for rec in records:
            slot = (_row_id(layout, rec, several, extra), _norm(_value(rec, layout.columns)))
            clash = clash or slot in seen
            seen.add(slot)
        if not clash:
            return extra
        extra.append(key)
    return extra


def _columns(layout: Layout, records: list[dict[str, Any]]) -> dict[Any, str]:
    """Column values (numbers ascending, names in order of appearance, ``last`` ones at the end) -> labels."""
    values = list(dict.fromkeys(_norm(_value(r, layout.columns)) for r in records))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        values.sort()
    values.sort(key=lambda v: str(v) in layout.last)
    labels = {}
    for value in values:
        rec = next(r for r in records if _norm(_value(r, layout.columns)) == value)
        text = rec.get(layout.column_label) if layout.column_label else None
        labels[value] = str(text) if _present(text) else meta_text(value)
    return {v: layout.column_format.format(t) for v, t in labels.items()}


def _label(layout: Layout, legend: Legend, key: str, value: Any) -> str:
    text = meta_text(value)
    named = layout.short(key, text) if text else None
    if named is None:
        return text
    legend.add(key, named[0], named[1])
    return named[0]


def _metric_label(suite: str, metric: str, hib: bool | None) -> str:
    known = declared(suite, metric)
    return f"{known.label if known else metric} {arrow(hib)}".strip()


def _disamb_text(key: str, value: Any) -> str:
    return meta_text(value)


def _direction(suite: str, rec: dict[str, Any]) -> bool | None:
    hib = rec.get("higher_is_better")
    if hib is not None and not (isinstance(hib, float) and math.isnan(hib)):
        return bool(hib)
    known = declared(suite, rec["metric"])
    return None if known is None else known.higher_is_better


def _matches(keys: tuple[str, ...], rec: dict[str, Any], row: dict[str, Any]) -> bool:
    return all(_norm(_value(rec, k)) == _norm(_value(row, k)) for k in keys) and rec.get("run") == row.get("run")


def _mark_column_best(table: Table, groups: list | None) -> None:
    """Bold the best value of each column among rows of the same metric and direction."""
    for col in range(len(table.columns)):
        by_group: dict[Any, list[Cell]] = {}
        for pos, row in enumerate(table.rows):
            cell = row.cells[col]
            if row.higher_is_better is None or cell.value is None or not math.isfinite(cell.value):
                continue
            by_group.setdefault((groups[pos] if groups else None, row.higher_is_better), []).append(cell)
        for (_, hib), cells in by_group.items():
            if len(cells) < 2:
                continue
            best = (max if hib else min)(c.value for c in cells)
            for cell in cells:
                cell.best = cell.value == best


def _notes(layout: Layout, records: list[dict[str, Any]]) -> list[str]:
    kinds = {r.get("pm_kind") for r in records if _present(r.get("pm"))}
    notes = [layout.note] if layout.note else []
    if "ci" in kinds:
        notes.append("± half-width of the 95% confidence interval.")
    if "sd" in kinds:
        notes.append("Several seeds: mean ± standard deviation across seeds.")
    if layout.best == "column":
        notes.append("Bold: best in its column.")
    if layout.names:
        notes.append("Short names: see the legend.")
    return notes


def _cell(rec: dict[str, Any] | None) -> Cell:
    if rec is None:
        return Cell()
    pm = rec.get("pm")
    return Cell(value=float(rec["value"]), pm=float(pm) if _present(pm) else None)


def _flat(rec: dict[str, Any]) -> dict[str, Any]:
    """A record with its ``extra`` keys beside its fields (fields and qualifier columns win)."""
    extra = rec.get("extra") if isinstance(rec.get("extra"), dict) else {}
    out = {**extra, **{k: v for k, v in rec.items() if _present(v) or k not in extra}}
    return out


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _norm(value: Any) -> Any:
    return value if _present(value) else None
