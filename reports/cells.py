"""The table model every renderer draws from: labelled rows of cells (value ± spread, best mark, footnote mark),
and the one number format all formats share, so Markdown, LaTeX and HTML always show the same digits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Cell:
    """One number with its ± spread; ``best`` when it is the best of its row; ``mark`` a footnote sign;
    ``places`` fixes the decimals (a published number is shown as printed, 0.30 not 0.3000)."""

    value: float | None = None
    pm: float | None = None
    best: bool = False
    mark: str = ""
    places: int | None = None

    def text(self) -> tuple[str, str]:
        """Value and spread as displayed (see ``format_number``)."""
        return format_number(self.value, self.pm, self.places)

    @property
    def empty(self) -> bool:
        return self.value is None


@dataclass
class Row:
    """Row labels (metric, eval set, metadata...), one cell per column, and the row's direction of "better"."""

    labels: list[str]
    cells: list[Cell]
    higher_is_better: bool | None = None


@dataclass
class Table:
    """A titled grid: ``label_headers`` name the label columns, ``columns`` the value columns."""

    title: str
    label_headers: list[str]
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def mark_best(row: Row) -> None:
    """Mark the best finite value(s) of a row in its direction; rows without a direction or with fewer than
    two numbers have no best."""
    finite = [c for c in row.cells if c.value is not None and math.isfinite(c.value)]
    if row.higher_is_better is None or len(finite) < 2:
        return
    pick = max if row.higher_is_better else min
    best = pick(c.value for c in finite)
    for cell in finite:
        cell.best = cell.value == best


def decimals(value: float | None, pm: float | None = None) -> int:
    """Decimal places: four significant digits of the value, at least two of the spread, at most six."""
    places = _places(value, 4)
    if pm is not None and math.isfinite(pm) and pm > 0:
        places = max(places, _places(pm, 2))
    return min(places, 6)


def format_number(value: float | None, pm: float | None = None, places: int | None = None) -> tuple[str, str]:
    """The value and its spread as text with the same decimal places (spread "" when absent)."""
    if value is None:
        return "", ""
    if not math.isfinite(value):
        return str(value), ""
    places = decimals(value, pm) if places is None else places
    has_pm = pm is not None and math.isfinite(pm)
    return f"{value:.{places}f}", f"{pm:.{places}f}" if has_pm else ""


def _places(value: float | None, significant: int) -> int:
    if value is None or not math.isfinite(value) or value == 0:
        return significant - 1
    return max(0, significant - 1 - math.floor(math.log10(abs(value))))
