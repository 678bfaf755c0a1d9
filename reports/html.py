"""One self-contained HTML report: tables plus every PNG plot of the runs embedded as base64, so the file can
be mailed, attached to a CI job or opened offline with nothing beside it."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from ebmbench.reports.cells import Table
from ebmbench.reports.load import RunSet
from ebmbench.reports.render import html_table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 0.3em; }
caption { font-weight: bold; text-align: left; padding-bottom: 0.4em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; }
thead th { border-bottom: 2px solid #444; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { font-size: 0.85em; color: #555; margin: 0.1em 0; }
.warning { background: #fff3cd; padding: 0.5em 1em; border-left: 4px solid #e0a800; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; }
figure img { max-width: 32em; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
"""


def html_report(runs: RunSet, tables: list[Table], summaries: list[dict[str, Any]], warnings: list[str]) -> str:
    """The full HTML document: run list, warnings, tables, then each run's plots."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>ebmbench report</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>ebmbench report</h1>", _runs(summaries)]
    parts += [f'<p class="warning">{html.escape(w)}</p>' for w in warnings]
    parts += ["<h2>Tables</h2>", *(html_table(t) for t in tables)]
    figures = [_figures(Path(run)) for run in runs.manifests]
    if any(figures):
        parts += ["<h2>Plots</h2>", *figures]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def embedded_png(path: Path) -> str:
    """A PNG file as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _runs(summaries: list[dict[str, Any]]) -> str:
    items = []
    for s in summaries:
        text = (f"{s['run']}: {', '.join(s['suites'])}; model {s['model']}, seed {s['seed']}; {s['status']}; "
                f"ebmbench {s['ebmbench_version']} (git {s['git_revision']}), {s['device']}")
        items.append(f"<li>{html.escape(text)}</li>")
    return f"<ul>{''.join(items)}</ul>"


MAX_EMBED_BYTES = 20 * 1024 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def embeddable_pngs(run: Path) -> list[Path]:
    """The run's PNG plots that a report may embed: regular files inside the run directory, reached without
    any link (a link could pull any file on the machine into a report that gets mailed or attached to CI),
    that really are PNGs of a sane size; hidden files are skipped."""
    root = run.resolve()
    found = []
    for path in sorted(run.rglob("*.png")):
        parts = path.relative_to(run).parts
        if any(part.startswith(".") for part in parts) or _through_link(run, parts):
            continue
        if path.is_file() and path.resolve().is_relative_to(root) and _is_png(path):
            found.append(path)
    return found


def _through_link(run: Path, parts: tuple[str, ...]) -> bool:
    """Whether the path run/parts... passes through a symbolic link at any level."""
    current = run
    for part in parts:
        current = current / part
        if current.is_symlink():
            return True
    return False


def _is_png(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_EMBED_BYTES:
            return False
        with open(path, "rb") as fh:
            return fh.read(8) == PNG_MAGIC
    except OSError:
        return False


def _figures(run: Path) -> str:
    pngs = embeddable_pngs(run)
    if not pngs:
        return ""
    figs = "".join(f'<figure><img alt="{html.escape(p.name)}" src="{embedded_png(p)}">'
                   f"<figcaption>{html.escape(str(p.relative_to(run)))}</figcaption></figure>" for p in pngs)
    return f"<h3>{html.escape(str(run))}</h3>{figs}"
