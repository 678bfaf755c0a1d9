"""The one-page HTML report: summary first (each suite's headline, then a warnings panel with the sanity and
model-health checks), each suite's paper tables (sortable in the browser, wide ones scrolling in their own box)
and figures with captions, the legend of short names, and the provenance of every run at the end.

One self-contained file: styles and the sorting script are inline, figures are embedded PNGs; nothing is
fetched from the network when it is opened.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ebmbench.registries import suite_spec
from ebmbench.reports.cells import Cell, Table
from ebmbench.reports.headline import Headline, headlines
from ebmbench.reports.layouts import Legend, suite_tables
from ebmbench.reports.load import RunSet

CHECK_PREFIXES: tuple[str, ...] = ("health_", "sanity_")  # check records: value > 0 means the check fired

STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2125; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 0.5em 1.2em 3em; }
h1 { font-size: 1.5em; margin: 0.4em 0 0.1em; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
h3 { font-size: 1.02em; margin: 1.2em 0 0.3em; }
p.lede { color: #57606a; margin: 0 0 0.8em; }
nav { font-size: 0.9em; margin: 0.4em 0 0.8em; }
nav a { margin-right: 1em; }
.scroll { overflow-x: auto; width: fit-content; max-width: 100%; margin: 0.3em 0; border: 1px solid #eaeef2;
  border-radius: 4px; }
caption { text-align: left; padding: 0.3em 0.65em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.28em 0.65em; border-bottom: 1px solid #eaeef2; white-space: nowrap; text-align: left; }
#summary th, #summary td { padding: 0.1em 0.65em; line-height: 1.3; }  /* the summary fits the first screen */
thead th { background: #f6f8fa; border-bottom: 2px solid #8c959f; position: sticky; top: 0; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable::after { content: " \\2195"; color: #8c959f; font-size: 0.8em; }
th[aria-sort="ascending"]::after { content: " \\25B2"; color: #1d2125; }
th[aria-sort="descending"]::after { content: " \\25BC"; color: #1d2125; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.missing { color: #8c959f; }
p.note { font-size: 0.84em; color: #57606a; margin: 0.15em 0; }
.warnings { border-left: 4px solid #bf8700; background: #fff8c5; padding: 0.5em 1em; margin: 0.8em 0; }
.warnings.ok { border-color: #1a7f37; background: #dafbe1; }
.warnings ul { margin: 0.3em 0; padding-left: 1.2em; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0.4em 0; flex: 1 1 420px; max-width: 560px; }
figure img { width: 100%; height: auto; max-height: 460px; object-fit: contain; border: 1px solid #eaeef2; }
figcaption { font-size: 0.84em; color: #57606a; }
dl.legend { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; font-size: 0.9em; }
dl.legend dt { font-weight: 600; }
dl.legend dd { margin: 0; }
"""

# Sorting by a click on a column header: numbers by their value (data-v), text alphabetically, empty cells last.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        if (!cell) { return null; }
        var v = cell.getAttribute("data-v");
        if (v !== null) { return v === "" ? null : parseFloat(v); }
        return cell.textContent.trim();
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        var d = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def page(runs: RunSet, frame: pd.DataFrame, summaries: list[dict[str, Any]], warnings: list[str]) -> str:
    """The whole HTML document (see the module docstring)."""
    legend = Legend()
    by_suite = suite_tables(frame, legend)
    tops = headlines(frame)
    _, total_checks = check_warnings(runs)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>ebmbench report</title>", f"<style>{STYLE}</style></head><body><main>",
             "<h1>ebmbench report</h1>",
             f'<p class="lede">{_esc(_lede(summaries, by_suite))}</p>', _nav(by_suite, bool(legend.entries)),
             '<section id="summary"><h2>Summary</h2>', _summary(tops), _warnings(warnings, total_checks), "</section>"]
    for suite, tables in by_suite.items():
        parts.append(_suite_section(suite, tables, runs, frame))
    if legend.entries:
        parts.append(_legend(legend))
    parts += [_provenance(summaries, runs), f"<script>{SCRIPT}</script>", "</main></body></html>"]
    return "\n".join(parts) + "\n"


# ---- summary and warnings -------------------------------------------------------------------------------------
def _lede(summaries: list[dict[str, Any]], by_suite: dict[str, list[Table]]) -> str:
    models = sorted({str(s["model"]) for s in summaries if s["model"]})
    datasets = ""
    return (f"{len(summaries)} run(s): {', '.join(by_suite)}; model(s) under test: {', '.join(models) or '?'}"
            f"{datasets}. Provenance (versions, checkpoints, seeds) at the end.")


def _nav(by_suite: dict[str, list[Table]], legend: bool) -> str:
    links = ['<a href="#summary">summary</a>', *(f'<a href="#suite-{_id(s)}">{_esc(s)}</a>' for s in by_suite)]
    if legend:
        links.append('<a href="#legend">legend</a>')
    links.append('<a href="#provenance">provenance</a>')
    return f"<nav>{''.join(links)}</nav>"


def _summary(tops: list[Headline]) -> str:
    if not tops:
        return "<p>No headline metrics in these runs.</p>"
    head = ["suite", "model", "headline", "value", "at", "which"]
    rows = []
    for h in tops:
        value = Cell(h.value, h.pm)
        rows.append([_esc(h.suite), _esc(h.model), _esc(metric_label(h)), _num(value), _esc(h.setting),
                     _esc(h.variant)])
    return _table_html(head, rows, numeric={3}, caption="Each suite's headline metric per model")


def metric_label(h: Headline) -> str:
    spec = suite_spec(h.suite)
    metric = spec.metric(h.metric) if spec is not None else None
    arrow = "" if h.higher_is_better is None else (" ↑" if h.higher_is_better else " ↓")
    return (metric.label if metric else h.metric) + arrow


def check_warnings(runs: RunSet) -> tuple[list[str], int]:
    """Fired sanity and model-health checks (with the details a run's ``warnings.json`` gives), and how many
    checks ran in all."""
    frame = runs.frame
    checks = frame[frame["metric"].astype(str).str.startswith(CHECK_PREFIXES)]
    fired = []
    for row in checks.to_dict("records"):
        if not (isinstance(row["value"], float) and math.isfinite(row["value"]) and row["value"] > 0):
            continue
        extra = row["extra"] if isinstance(row["extra"], dict) else {}
        what = "model health" if str(row["metric"]).startswith("health_") else "sanity"
        name = str(row["metric"]).split("_", 1)[1]
        message = str(extra.get("message") or f"{row['value']:g} number(s) failed it")
        fired.append(f"{row['suite']} {what} check {name} ({row['model']}): {message}")
    for run in runs.manifests:
        fired += _warnings_file(Path(run))
    return fired, len(checks)


def _warnings_file(run: Path) -> list[str]:
    """Details of the checks a suite wrote to ``warnings.json`` (a list of objects with a message)."""
    path = run / "warnings.json"
    if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
        return []
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("message"):
            where = " ".join(str(item[k]) for k in ("model", "defense", "threat_model", "norm") if item.get(k))
            eps = f" ε={item['epsilon_label']}" if item.get("epsilon_label") is not None else ""
            place = f"{where}{eps}".strip()
            out.append(f"{item.get('check', 'check')}: " + (f"{place}: " if place else "") + str(item["message"]))
    return out


def _warnings(items: list[str], total: int, shown: int = 8) -> str:
    """The warnings panel: the first few warnings in view, the rest folded away."""
    if not items:
        passed = f"all {total} sanity and model-health checks passed" if total else "no checks recorded"
        return f'<div class="warnings ok" id="warnings"><strong>No warnings</strong>: {passed}.</div>'
    lis = "".join(f"<li>{_esc(w)}</li>" for w in items[:shown])
    more = "".join(f"<li>{_esc(w)}</li>" for w in items[shown:])
    folded = f"<details><summary>{len(items) - shown} more</summary><ul>{more}</ul></details>" if more else ""
    return (f'<div class="warnings" id="warnings"><strong>{len(items)} warning(s)</strong> ({total} sanity and '
            f"model-health check records): read the numbers they concern with care.<ul>{lis}</ul>{folded}</div>")


# ---- suites ---------------------------------------------------------------------------------------------------
def _suite_section(suite: str, tables: list[Table], runs: RunSet, frame: pd.DataFrame) -> str:
    spec = suite_spec(suite)
    about = f'<p class="lede">{_esc(spec.description)}</p>' if spec is not None else ""
    parts = [f'<section id="suite-{_id(suite)}"><h2>{_esc(suite)}</h2>{about}']
    parts += [_layout_table(t) for t in tables]
    suite_runs = _suite_runs(suite, frame)
    figures = [(run, p) for run in suite_runs for p in figure_files(run)]
    if figures:
        parts.append('<div class="figures">' + "".join(_figure(run, p, len(suite_runs) > 1)
                                                       for run, p in figures) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _suite_runs(suite: str, frame: pd.DataFrame) -> list[Path]:
    return [Path(r) for r in dict.fromkeys(frame.loc[frame["suite"] == suite, "run"])]


def figure_files(run: Path) -> list[Path]:
    """The run's PNG plots a report may embed (``html.embeddable_pngs``: regular PNG files inside the run
    directory, reached through no link, of a sane size)."""
    from ebmbench.reports.html import embeddable_pngs

    return embeddable_pngs(run)


def _figure(run: Path, path: Path, name_run: bool) -> str:
    from ebmbench.reports.html import embedded_png

    caption = _caption(path.relative_to(run))
    if name_run:
        caption += f" ({run})"
    return (f'<figure><img alt="{_esc(caption)}" src="{embedded_png(path)}" loading="eager">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


CAPTIONS: dict[str, str] = {
    "robustness_curves": "Accuracy against ε under each threat model",
    "quality_vs_steps": "Sample quality against Langevin steps",
    "samples": "Langevin samples",
    "energy_trace": "Energy along the sampling chains",
    "energy_hist": "Energies of train, test and noise images",
}


def _caption(relative: Path) -> str:
    stem = relative.stem
    if relative.parent.name == "hist":
        return f"Score histograms: in-distribution vs {stem} (higher = more in-distribution)"
    return CAPTIONS.get(stem, stem.replace("_", " "))


def _layout_table(table: Table) -> str:
    head = [*table.label_headers, *table.columns]
    numeric = set(range(len(table.label_headers), len(head)))
    rows = [[*(_esc(x) for x in row.labels), *(_num(c) for c in row.cells)] for row in table.rows]
    notes = "".join(f'<p class="note">{_esc(n)}</p>' for n in table.notes)
    return f"<h3>{_esc(table.title)}</h3>" + _table_html(head, rows, numeric) + notes


def _table_html(head: list[str], rows: list[list[str]], numeric: set[int], caption: str = "") -> str:
    ths = "".join(f'<th class="num">{_esc(h)}</th>' if i in numeric else f"<th>{_esc(h)}</th>"
                  for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row)
                   + "</tr>" for row in rows)
    cap = f'<caption class="note">{_esc(caption)}</caption>' if caption else ""
    return (f'<div class="scroll"><table class="sortable">{cap}<thead><tr>{ths}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _num(cell: Cell) -> str:
    if cell.empty:
        return '<td class="num missing" data-v="">–</td>'
    value, pm = cell.text()
    text = _esc(f"{value} ± {pm}" if pm else value)
    text = f"<strong>{text}</strong>" if cell.best else text
    raw = cell.value if cell.value is not None and math.isfinite(cell.value) else ""
    return f'<td class="num" data-v="{raw}">{text}{_esc(cell.mark)}</td>'


# ---- legend and provenance -----------------------------------------------------------------------------------
def _legend(legend: Legend) -> str:
    items = "".join(f"<dt>{_esc(short)}</dt><dd>{_esc(what)}: {_esc(meaning)}</dd>"
                    for (what, short), meaning in legend.entries.items())
    return f'<section id="legend"><h2>Legend</h2><dl class="legend">{items}</dl></section>'


def _provenance(summaries: list[dict[str, Any]], runs: RunSet) -> str:
    head = ["run", "suites", "model", "seed", "status", "ebmbench", "git", "torch", "device", "checkpoint SHA-256",
            "started", "finished"]
    rows = []
    for s in summaries:
        manifest = runs.manifests.get(s["run"], {})
        sha = str(manifest.get("checkpoint_sha256") or manifest.get("sha256") or "")
        rows.append([_esc(x) for x in (s["run"], ", ".join(s["suites"]), s["model"], s["seed"], s["status"],
                                       s["ebmbench_version"], s["git_revision"], manifest.get("torch_version", ""),
                                       s["device"], sha[:16] + ("…" if len(sha) > 16 else ""),
                                       manifest.get("started_at", ""), manifest.get("finished_at", ""))])
    return ('<section id="provenance"><h2>Provenance</h2>' + _table_html(head, rows, set())
            + '<p class="note">Each run directory\'s manifest.json holds the full resolved options.</p></section>')


def leaderboard_page(tables: list[Table]) -> str:
    """The leaderboard as one small self-contained HTML page (sortable tables)."""
    body = "".join(_layout_table(t) for t in tables)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ebmbench leaderboard</title>"
            f"<style>{STYLE}</style></head><body><main><h1>ebmbench leaderboard</h1>{body}"
            f"<script>{SCRIPT}</script></main></body></html>\n")


def _esc(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _id(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)
