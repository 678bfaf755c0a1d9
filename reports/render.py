"""Render tables as Markdown, LaTeX (booktabs), CSV, JSON and HTML fragments.

Markdown, LaTeX and HTML show the same rounded digits (``Cell.text``); CSV and JSON carry the
full-precision numbers for machines.
"""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from ebmbench.markdown import md_code, md_escape  # noqa: F401  (re-exported for reports)
from ebmbench.numbers import finite_or_none
from ebmbench.reports.cells import Cell, Table

MISSING = "–"
LATEX_PREAMBLE = "% ebmbench tables: needs \\usepackage{booktabs} in the preamble\n"
_LATEX_CHARS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "↑": r"$\uparrow$", "↓": r"$\downarrow$", "±": r"$\pm$", "†": r"$^\dagger$",
                "ε": r"$\varepsilon$", "−": "$-$", "×": r"$\times$", "–": "--", "≈": r"$\approx$"}

_LATEX_MARKS = {"†": r"^{\dagger}"}  # footnote signs set inside the math of a number


# ---- Markdown -----------------------------------------------------------------------------------------------
def markdown_table(table: Table, level: int = 3) -> str:
    """A GitHub-flavoured Markdown table with a heading, best cells in bold, notes in italics below."""
    header = [md_escape(h) for h in [*table.label_headers, *table.columns]]
    rule = [":--"] * len(table.label_headers) + ["--:"] * len(table.columns)
    lines = [f"{'#' * level} {md_escape(table.title)}", "", _md_line(header), _md_line(rule)]
    for row in table.rows:
        lines.append(_md_line([md_escape(x) for x in row.labels] + [_md_cell(c) for c in row.cells]))
    lines += ["", *(f"*{md_escape(n)}*" for n in table.notes)]
    return "\n".join(lines).rstrip() + "\n"


def markdown_tables(tables: list[Table], level: int = 3) -> str:
    return "\n".join(markdown_table(t, level) for t in tables)


def _md_cell(cell: Cell) -> str:
    if cell.empty:
        return MISSING
    value, pm = cell.text()
    text = f"{value} ± {pm}" if pm else value
    return (f"**{text}**" if cell.best else text) + cell.mark


def _md_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


# ---- LaTeX --------------------------------------------------------------------------------------------------
def latex_table(table: Table) -> str:
    """A booktabs ``table`` environment (label columns left, numbers right), notes under the tabular."""
    spec = "l" * len(table.label_headers) + "r" * len(table.columns)
    header = [*table.label_headers, *table.columns]
    lines = [r"\begin{table}[t]", r"\centering", f"\\caption{{{latex_escape(table.title)}}}",
             f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    for row in table.rows:
        parts = [latex_escape(x) for x in row.labels] + [_latex_cell(c) for c in row.cells]
        lines.append(" & ".join(parts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(latex_escape(n) for n in table.notes) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def latex_tables(tables: list[Table]) -> str:
    return LATEX_PREAMBLE + "\n".join(latex_table(t) for t in tables)


def latex_escape(text: str) -> str:
    """Text safe inside LaTeX: specials escaped, arrows and ± as math; a leading "[" guarded so that it is
    never read as the optional argument of the preceding ``\\``."""
    escaped = "".join(_LATEX_CHARS.get(ch, ch) for ch in str(text))
    return "{}" + escaped if escaped.startswith("[") else escaped


def _latex_cell(cell: Cell) -> str:
    if cell.empty:
        return "--"
    value, pm = cell.text()
    body = f"{value} \\pm {pm}" if pm else value
    body = f"\\mathbf{{{body}}}" if cell.best else body
    inside = _LATEX_MARKS.get(cell.mark)
    return f"${body}{inside}$" if inside else f"${body}$" + latex_escape(cell.mark)


# ---- CSV and JSON -------------------------------------------------------------------------------------------
def csv_tables(tables: list[Table]) -> str:
    """Long format, one line per cell, full precision: table, its label columns, column, value, pm, best."""
    labels = list(dict.fromkeys(h for t in tables for h in t.label_headers))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["table", *labels, "column", "value", "pm", "best", "mark"],
                            lineterminator="\n")
    writer.writeheader()
    for table in tables:
        for row in table.rows:
            base = {"table": table.title, **dict(zip(table.label_headers, row.labels, strict=True))}
            for column, cell in zip(table.columns, row.cells, strict=True):
                if not cell.empty:
                    writer.writerow({**base, "column": column, "value": f"{cell.value:.12g}",
                                     "pm": "" if cell.pm is None else f"{cell.pm:.12g}", "best": cell.best,
                                     "mark": cell.mark})
    return out.getvalue()


def table_dict(table: Table) -> dict[str, Any]:
    """A table as plain JSON-ready data (non-finite numbers as null)."""
    rows = [{"labels": r.labels, "higher_is_better": r.higher_is_better,
             "cells": [{"value": finite_or_none(c.value), "pm": finite_or_none(c.pm), "best": c.best, "mark": c.mark}
                       for c in r.cells]} for r in table.rows]
    return {"title": table.title, "label_headers": table.label_headers, "columns": table.columns,
            "rows": rows, "notes": table.notes}


def json_tables(tables: list[Table], **extra: Any) -> str:
    doc = {**extra, "tables": [table_dict(t) for t in tables]}
    return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False, default=str) + "\n"


def html_table(table: Table) -> str:
    """An HTML ``<table>`` fragment (escaped text, best cells in ``<strong>``) with its notes."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in table.label_headers)
    head += "".join(f'<th class="num">{esc(c)}</th>' for c in table.columns)
    body = []
    for row in table.rows:
        tds = "".join(f"<td>{esc(x)}</td>" for x in row.labels)
        tds += "".join(f'<td class="num">{_html_cell(c)}</td>' for c in row.cells)
        body.append(f"<tr>{tds}</tr>")
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in table.notes)
    return (f"<table><caption>{esc(table.title)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{notes}")


def _html_cell(cell: Cell) -> str:
    if cell.empty:
        return MISSING
    value, pm = cell.text()
    text = html.escape(f"{value} ± {pm}" if pm else value)
    return (f"<strong>{text}</strong>" if cell.best else text) + html.escape(cell.mark)
