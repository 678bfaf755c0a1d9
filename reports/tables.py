"""Comparison tables from loaded records: one table per suite, version and dataset, models as columns, one row
per (metric, eval set, meaning-changing metadata), the suite's headline metric first.

Columns are models (with their score or threat model); when one model appears more than once they are told
apart by configuration, seed and run, so two different numbers never share a cell.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ebmbench.numbers import none_if_nan
from ebmbench.reports.cells import Cell, Row, Table, mark_best
from ebmbench.reports.meta import arrow, column_meta, headline, meta_label, meta_text, row_meta

TABLE_KEY: tuple[str, ...] = ("suite", "suite_version", "dataset")
LAST_SETS: tuple[str, ...] = ("average",)


def column_key() -> tuple[str, ...]:
    """What tells a table's columns apart: the model, its column qualifiers, configuration, seed and run."""
    return ("model", *column_meta(), "options", "seed", "run")


def build_tables(frame: pd.DataFrame) -> list[Table]:
    """Comparison tables for a frame that already has ``pm``/``pm_kind``/``n_seeds`` (see ``aggregate``)."""
    rows = frame.to_dict("records")
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in TABLE_KEY), []).append(row)
    return [_table(key, members) for key, members in groups.items()]


def _table(key: tuple, records: list[dict[str, Any]]) -> Table:
    suite, version, dataset = key
    meta_keys = [k for k in row_meta() if any(meta_text(r[k]) for r in records)]
    columns = _columns(records)
    row_ids = _row_ids(records, meta_keys, headline(suite))
    table = Table(title=f"{suite} (v{version}) on {dataset}",
                  label_headers=["metric", "eval set", *(meta_label(k) for k in meta_keys)],
                  columns=list(columns.values()))
    cells: dict[tuple, dict[tuple, dict[str, Any]]] = {}
    duplicates = 0
    for rec in records:
        slot = cells.setdefault(_row_id(rec, meta_keys), {})
        duplicates += _col_id(rec) in slot
        slot[_col_id(rec)] = rec
    for rid in row_ids:
        table.rows.append(_row(rid, cells[rid], list(columns)))
    table.notes = _notes(suite, records, duplicates)
    return table


def _row(rid: tuple, found: dict[tuple, dict[str, Any]], col_ids: list[tuple]) -> Row:
    metric, eval_set, *meta = rid
    sample = next(iter(found.values()))
    hib = sample["higher_is_better"]
    hib = None if none_if_nan(hib) is None else bool(hib)
    cells = [_cell(found.get(cid)) for cid in col_ids]
    row = Row(labels=[f"{metric} {arrow(hib)}".strip(), str(eval_set), *(meta_text(m) for m in meta)],
              cells=cells, higher_is_better=hib)
    mark_best(row)
    return row


def _cell(rec: dict[str, Any] | None) -> Cell:
    if rec is None:
        return Cell()
    pm = rec.get("pm")
    return Cell(value=float(rec["value"]), pm=None if none_if_nan(pm) is None else float(pm))


def _row_id(rec: dict[str, Any], meta_keys: list[str]) -> tuple:
    return (rec["metric"], rec["eval_set"], *(none_if_nan(rec[k]) for k in meta_keys))


def _col_id(rec: dict[str, Any]) -> tuple:
    return tuple(none_if_nan(rec[k]) for k in column_key())


def _row_ids(records: list[dict[str, Any]], meta_keys: list[str], head: str | None) -> list[tuple]:
    """Distinct rows, headline metric first, then metrics and eval sets as the suite wrote them (averages
    last), metadata in ascending order."""
    ids = list(dict.fromkeys(_row_id(r, meta_keys) for r in records))
    metrics = list(dict.fromkeys(i[0] for i in ids))
    sets = list(dict.fromkeys(i[1] for i in ids))

    def order(rid: tuple) -> tuple:
        metric, eval_set, *meta = rid
        return (metric != head, metrics.index(metric), eval_set in LAST_SETS, sets.index(eval_set),
                *(_sortable(m) for m in meta))

    return sorted(ids, key=order)


def _columns(records: list[dict[str, Any]]) -> dict[tuple, str]:
    """Column ids in order of appearance, each with a label that tells it apart from its siblings."""
    ids = list(dict.fromkeys(_col_id(r) for r in records))
    seeds = {cid: max(int(r["n_seeds"]) for r in records if _col_id(r) == cid) for cid in ids}
    return {cid: _column_label(cid, ids, seeds[cid]) for cid in ids}


def _column_label(cid: tuple, ids: list[tuple], n_seeds: int) -> str:
    model, *qualifiers, options, seed, run = cid
    label = model + "".join(f" [{m}]" for m in qualifiers if m is not None)
    k = 1 + len(qualifiers)  # (model, qualifiers) identify the column; configuration, seed and run follow
    siblings = [i for i in ids if i[:k] == cid[:k]]
    if len({i[k] for i in siblings}) > 1:
        label += f" cfg{sorted({i[k] for i in siblings}, key=str).index(options) + 1}"
    if len({i[k + 1] for i in siblings}) > 1 and seed is not None:
        label += f" seed {seed}"
    if any(i[k:k + 2] == cid[k:k + 2] and i != cid for i in siblings):
        label += f" ({run})"
    return label + (f" ({n_seeds} seeds)" if n_seeds > 1 else "")


def _notes(suite: str, records: list[dict[str, Any]], duplicates: int) -> list[str]:
    kinds = {r["pm_kind"] for r in records if none_if_nan(r.get("pm")) is not None}
    notes = ["↑ higher is better, ↓ lower is better; bold: best in row."]
    if "ci" in kinds:
        notes.append("± half-width of the 95% confidence interval.")
    if "sd" in kinds:
        notes.append("Columns marked (k seeds): mean ± standard deviation across k seeds.")
    head = headline(suite)
    if head:
        notes.append(f"Headline metric: {head}.")
    if duplicates:
        notes.append(f"{duplicates} duplicate record(s) for the same cell: the last one is shown.")
    return notes + health_notes(records)


def health_notes(records: list[dict[str, Any]]) -> list[str]:
    """One note per fired model-health check (``health_*`` records), so the warning sits under the numbers of
    the model it concerns."""
    notes = []
    for r in records:
        if str(r["metric"]).startswith("health_") and r["value"]:
            message = (r.get("extra") or {}).get("message") or r["metric"]
            notes.append(f"Model-health warning ({r['metric'][7:]}) for {r['model']}: {message}")
    return list(dict.fromkeys(notes))


def _sortable(value: Any) -> tuple:
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value), "")
    return (2, 0.0, str(value))
