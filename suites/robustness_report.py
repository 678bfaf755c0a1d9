"""The robustness suite's artifacts, rebuilt from its records (so a resumed run renders everything it holds):
a Markdown table per norm (rows: model, defense, threat model; columns: clean and each epsilon) and
accuracy-versus-epsilon curves, one panel per norm, laid out like the reference paper's figure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import seaborn as sns

from ebmbench.plots import save_figure
from ebmbench.records import Record
from ebmbench.rundir import atomic_write_text

ROBUST, CLEAN = "robust_accuracy", "clean_accuracy"


def _cell(r: Record) -> str:
    if r.ci_low is None or r.ci_high is None:
        return f"{r.value:.3f}"
    return f"{r.value:.3f} ± {(r.ci_high - r.ci_low) / 2:.3f}"


def _key(r: Record) -> tuple[str, str]:
    return r.model, r.extra.get("defense", "none")


def markdown_table(records: Sequence[Record], warnings: Sequence[dict[str, Any]] = ()) -> str:
    """Robust accuracy (± half the 95% interval) per norm; a worst-case row under views with several attacks."""
    clean = {_key(r): r for r in records if r.metric == CLEAN}
    robust = [r for r in records if r.metric == ROBUST]
    parts = ["# Robustness\n", "Accuracy under attack (± half the 95% interval over examples and draws of the "
             "defense). `worst case` is the lowest accuracy over the threat models of a view.\n"]
    for norm in sorted({r.extra["norm"] for r in robust}, key=lambda n: n != "linf"):
        parts.append(_norm_table(norm, [r for r in robust if r.extra["norm"] == norm], clean))
    if warnings:
        parts.append("\n## Sanity warnings\n")
        parts += [f"- {w['check']}: {w['model']} [{w['defense']}] {w['threat_model']} {w['norm']} "
                  f"ε={w['epsilon_label']}: {w['accuracy']:.4f} — {w['message']}" for w in warnings]
    return "\n".join(parts) + "\n"


def _norm_table(norm: str, rows: list[Record], clean: dict[tuple[str, str], Record]) -> str:
    eps = sorted({(r.extra["epsilon"], r.extra["epsilon_label"]) for r in rows})
    cells: dict[tuple[str, str, str], dict[float, Record]] = defaultdict(dict)
    for r in rows:
        cells[(*_key(r), r.extra["threat_model"])][r.extra["epsilon"]] = r
    header = ["model", "defense", "threat model", "clean", *[f"ε={label}" for _, label in eps]]
    lines = [f"\n## {norm}\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    views = sorted({k[:2] for k in cells})
    for view in views:
        threats = sorted(k[2] for k in cells if k[:2] == view)
        base = [view[0], view[1]]
        clean_cell = _cell(clean[view]) if view in clean else ""
        for threat in threats:
            row = cells[(*view, threat)]
            lines.append("| " + " | ".join([*base, threat, clean_cell,
                                            *[_cell(row[e]) if e in row else "" for e, _ in eps]]) + " |")
        if len(threats) > 1:
            worst = [min((cells[(*view, t)][e] for t in threats if e in cells[(*view, t)]),
                         key=lambda r: r.value, default=None) for e, _ in eps]
            lines.append("| " + " | ".join([*base, "**worst case**", clean_cell,
                                            *[f"**{w.value:.3f}**" if w else "" for w in worst]]) + " |")
    return "\n".join(lines)


def save_table(records: Sequence[Record], warnings: Sequence[dict[str, Any]], path: Path) -> Path:
    atomic_write_text(path, markdown_table(records, warnings))
    return path


def save_curves(records: Sequence[Record], path: Path, title: str = "") -> Path:
    """Accuracy against epsilon, one panel per norm, one line per (model, defense, threat model)."""
    robust = [r for r in records if r.metric == ROBUST]
    norms = sorted({r.extra["norm"] for r in robust}, key=lambda n: n != "linf") or ["linf"]
    fig, axes = plt.subplots(1, len(norms), figsize=(5.5 * len(norms), 4), squeeze=False)
    palette = dict(zip(_labels(robust), sns.color_palette("tab10", max(len(_labels(robust)), 1)), strict=False))
    for ax, norm in zip(axes[0], norms, strict=True):
        _panel(ax, [r for r in robust if r.extra["norm"] == norm], palette)
        ax.set_title(f"{norm.upper().replace('LINF', 'L∞')} {title}".strip())
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), bbox_to_anchor=(0.5, -0.02 - 0.05 *
                   ((len(labels) - 1) // 3)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((len(labels) - 1) // 3) if handles else 0, 1, 1))
    return save_figure(fig, path)


def _label(r: Record) -> str:
    defense = r.extra.get("defense", "none")
    return f"{r.model}{'' if defense == 'none' else ' + ' + defense} · {r.extra['threat_model']}"


def _labels(records: Sequence[Record]) -> list[str]:
    return sorted({_label(r) for r in records})


def _panel(ax: plt.Axes, rows: list[Record], palette: dict[str, Any]) -> None:
    sns.set_style("whitegrid")
    series: dict[str, list[Record]] = defaultdict(list)
    for r in rows:
        series[_label(r)].append(r)
    for label, items in sorted(series.items()):
        items.sort(key=lambda r: r.extra["epsilon"])
        xs = [r.extra["epsilon"] for r in items]
        dashed = "transfer" in label
        sns.lineplot(x=xs, y=[r.value for r in items], ax=ax, label=label, color=palette[label], marker="o",
                     linestyle="--" if dashed else "-", legend=False)
        if all(r.ci_low is not None for r in items):
            ax.fill_between(xs, [r.ci_low for r in items], [r.ci_high for r in items], color=palette[label],
                            alpha=0.15, linewidth=0)
    ax.set_xlabel("ε")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
