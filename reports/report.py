"""``ebmbench report``: run directories into one document (Markdown, LaTeX, CSV, JSON or self-contained HTML)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from ebmbench.atomic import atomic_write_text
from ebmbench.errors import EbmbenchError
from ebmbench.reports.aggregate import aggregate_seeds, with_spread
from ebmbench.reports.cells import Table, format_number
from ebmbench.reports.layouts import Legend, paper_layout_tables
from ebmbench.reports.load import RunSet, load_runs
from ebmbench.reports.render import csv_tables, json_tables, latex_tables, markdown_tables, md_code, md_escape
from ebmbench.reports.tables import build_tables

FORMATS: tuple[str, ...] = ("md", "latex", "csv", "html", "json")
PAPER_FORMATS: tuple[str, ...] = ("md", "latex")


def prepared(runs: RunSet, aggregate: bool = False) -> pd.DataFrame:
    """The records with their display spread; with ``aggregate``, seeds of one model and configuration merged."""
    return aggregate_seeds(runs.frame) if aggregate else with_spread(runs.frame)


def report_tables(runs: RunSet, aggregate: bool = False) -> list[Table]:
    """The comparison tables of ``runs``."""
    return build_tables(prepared(runs, aggregate))


def run_summaries(runs: RunSet) -> list[dict[str, Any]]:
    """What each run is: suites, model, seed, status, versions (shown above the tables)."""
    out = []
    for label, manifest in runs.manifests.items():
        rows = runs.frame[runs.frame["run"] == label]
        identity = manifest.get("identity") or {}
        suites = sorted(set(rows["suite"])) or [str(identity.get("suite", "?"))]  # a run with no records yet
        out.append({"run": label, "suites": suites, "model": manifest.get("model", ""),
                    "seed": identity.get("seed"), "status": manifest.get("status", "unknown"),
                    "ebmbench_version": manifest.get("ebmbench_version", "?"),
                    "git_revision": str(manifest.get("git_revision", "?"))[:12],
                    "device": manifest.get("device", "?"), "records": len(rows)})
    return out


def warnings(runs: RunSet) -> list[str]:
    """Reasons to distrust some numbers: runs that did not finish, fired sanity and model-health checks."""
    from ebmbench.reports.page import check_warnings

    return [*(f"run {run} did not complete (status: {status}); its numbers may be partial"
              for run, status in runs.incomplete().items()), *check_warnings(runs)[0]]


def render_report(runs: RunSet, fmt: str, aggregate: bool = False, layout: str = "paper") -> str:
    """The whole report in ``fmt`` (one of ``FORMATS``). Markdown, LaTeX and HTML use the suites' paper
    layouts (``layout="generic"``: one comparison table per suite); CSV and JSON keep the long generic tables."""
    if fmt in ("csv", "json") or layout == "generic":
        tables, legend = report_tables(runs, aggregate), Legend()
    elif layout == "paper":
        legend = Legend()
        tables = paper_layout_tables(prepared(runs, aggregate), legend)
    else:
        raise EbmbenchError(f"unknown layout {layout!r}; choose paper or generic")
    if fmt == "md":
        return _markdown(runs, tables, legend)
    if fmt == "latex":
        comments = "".join(f"% run {s['run']}: {s['status']}, git {s['git_revision']}\n" for s in run_summaries(runs))
        return comments + latex_tables(tables) + _latex_legend(legend)
    if fmt == "csv":
        return csv_tables(tables)
    if fmt == "json":
        return json_tables(tables, runs=run_summaries(runs), warnings=warnings(runs))
    if fmt == "html":
        if layout == "generic":
            from ebmbench.reports.html import html_report

            return html_report(runs, tables, run_summaries(runs), warnings(runs))
        from ebmbench.reports.page import page

        return page(runs, prepared(runs, aggregate), run_summaries(runs), warnings(runs))
    raise EbmbenchError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_leaderboard(runs: RunSet, fmt: str, aggregate: bool = False) -> str:
    """One table per suite ranking the models of every run on the suite's headline, with intervals."""
    from ebmbench.reports.headline import leaderboard_tables

    tables = leaderboard_tables(prepared(runs, aggregate))
    if not tables:
        raise EbmbenchError("no headline metric in these runs: nothing to rank")
    if fmt == "md":
        return "# ebmbench leaderboard\n\n" + markdown_tables(tables, level=2)
    if fmt == "latex":
        return latex_tables(tables)
    if fmt == "csv":
        return csv_tables(tables)
    if fmt == "json":
        return json_tables(tables, runs=run_summaries(runs))
    if fmt == "html":
        from ebmbench.reports.page import leaderboard_page

        return leaderboard_page(tables)
    raise EbmbenchError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_paper(runs: RunSet, fmt: str, aggregate: bool = False, figure: Path | None = None,
                 relative_to: Path | None = None) -> str:
    """The paper's tables in ``fmt``; given ``figure``, the robustness curves are written there and linked
    (relative to ``relative_to``, the folder the document will live in)."""
    from ebmbench.reports.paper import paper_tables, robustness_figure
    from ebmbench.reports.published import load_published

    frame = prepared(runs, aggregate)
    tables = paper_tables(frame, load_published())
    written = robustness_figure(frame, figure) if figure is not None else None
    link = os.path.relpath(written, relative_to or Path.cwd()) if written else ""
    if fmt == "md":
        image = f"\n![Robustness curves]({link})\n" if written else ""
        return "# Paper tables\n\n" + markdown_tables(tables, level=2) + image
    if fmt == "latex":
        image = (f"\\begin{{figure}}[t]\n\\centering\n\\includegraphics[width=\\linewidth]{{{link}}}\n"
                 "\\caption{Accuracy under PGD against $\\varepsilon$.}\n\\end{figure}\n") if written else ""
        return latex_tables(tables) + ("% the figure needs \\usepackage{graphicx}\n" + image if image else "")
    raise EbmbenchError(f"unknown paper format {fmt!r}; choose one of {', '.join(PAPER_FORMATS)}")


def write_reports(paths: list[str | Path], out_dir: str | Path, aggregate: bool = False) -> dict[str, Path]:
    """Write ``report.md`` and ``report.html`` for ``paths`` into ``out_dir`` (what quickstart ends with)."""
    runs = load_runs(list(paths))
    written = {}
    for fmt, name in (("md", "report.md"), ("html", "report.html")):
        path = Path(out_dir) / name
        atomic_write_text(path, render_report(runs, fmt, aggregate))
        written[fmt] = path
    return written


def _latex_legend(legend: Legend) -> str:
    if not legend.entries:
        return ""
    from ebmbench.reports.render import latex_escape

    items = "".join(f"\\item[{latex_escape(short)}] ({latex_escape(what)}) {latex_escape(meaning)}\n"
                    for (what, short), meaning in legend.entries.items())
    return f"% legend of the short names\n\\begin{{description}}\n{items}\\end{{description}}\n"


def _markdown_legend(legend: Legend) -> str:
    if not legend.entries:
        return ""
    return "\n## Legend\n\n" + "".join(f"- **{md_escape(short)}** ({md_escape(what)}): {md_escape(meaning)}\n"
                                         for (what, short), meaning in legend.entries.items())


def _markdown_summary(runs: RunSet) -> list[str]:
    from ebmbench.reports.headline import headlines
    from ebmbench.reports.page import metric_label

    lines = ["## Summary", "", "| suite | model | headline | value | at | which |", "|---|---|---|--:|---|---|"]
    for h in headlines(prepared(runs)):
        value = format_number(h.value, h.pm)
        text = f"{value[0]} ± {value[1]}" if value[1] else value[0]
        lines.append("| " + " | ".join(md_escape(x) for x in (h.suite, h.model, metric_label(h), text, h.setting,
                                                                 h.variant)) + " |")
    return [*lines, ""] if len(lines) > 4 else []


def _markdown(runs: RunSet, tables: list[Table], legend: Legend | None = None) -> str:
    lines = ["# ebmbench report", "", "Runs:", ""]
    for s in run_summaries(runs):
        text = (f"{', '.join(s['suites'])}; model {s['model']}, seed {s['seed']}; {s['status']}; "
                f"ebmbench {s['ebmbench_version']} (git {s['git_revision']})")
        lines.append(f"- {md_code(s['run'])}: {md_escape(text)}")
    lines += ["", *_markdown_summary(runs), *(f"> **Warning:** {md_escape(w)}" for w in warnings(runs))]
    return ("\n".join(lines).rstrip() + "\n\n" + markdown_tables(tables, level=2)
            + _markdown_legend(legend or Legend()))
