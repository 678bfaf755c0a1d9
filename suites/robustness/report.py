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

from ebmbench.atomic import atomic_write_text
from ebmbench.markdown import md_escape
from ebmbench.plots import save_figure
from ebmbench.records import Record

ROBUST, CLEAN, GAIN = "robust_accuracy", "clean_accuracy", "purification_gain"


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
    gains = [r for r in records if r.metric == GAIN]
    if gains:
        parts.append(_gain_table(gains))
    if warnings:
        parts.append("\n## Sanity warnings\n")
        parts += [md_escape(f"- {w['check']}: {w['model']} [{w['defense']}] {w['threat_model']} {w['norm']} "
                            f"ε={w['epsilon_label']}: {w['accuracy']:.4f} — {w['message']}") for w in warnings]
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
        base = [md_escape(view[0]), md_escape(view[1])]
        clean_cell = _cell(clean[view]) if view in clean else ""
        for threat in threats:
            row = cells[(*view, threat)]
            lines.append("| " + " | ".join([*base, md_escape(threat), clean_cell,
                                            *[_cell(row[e]) if e in row else "" for e, _ in eps]]) + " |")
        if len(threats) > 1:
            worst = [min((cells[(*view, t)][e] for t in threats if e in cells[(*view, t)]),
                         key=lambda r: r.value, default=None) for e, _ in eps]
            lines.append("| " + " | ".join([*base, "**worst case**", clean_cell,
                                            *[f"**{w.value:.3f}**" if w else "" for w in worst]]) + " |")
    return "\n".join(lines)


def _gain_table(gains: list[Record]) -> str:
    """The purification's accuracy minus its noise-only control's, per threat model and ball."""
    lines = ["\n## Gain over the noise-only control\n",
             "Accuracy of the Langevin purification minus that of the same chain without the energy gradient, on "
             "the same examples and noise draws (paired 95% interval). An interval that contains 0 means the "
             "defense's robustness is not shown to come from the energy model.\n",
             "| model | threat model | norm | ε | gain | 95% interval |", "|---|---|---|---|---|---|"]
    for r in sorted(gains, key=lambda r: (r.model, r.extra.get("threat_model", ""), r.extra.get("norm", ""),
                                          r.extra.get("epsilon", -1.0))):
        interval = "" if r.ci_low is None or r.ci_high is None else f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
        lines.append(f"| {md_escape(r.model)} | {md_escape(r.extra.get('threat_model', ''))} | "
                     f"{r.extra.get('norm', 'clean')} | "
                     f"{r.extra.get('epsilon_label', '')} | {r.value:+.3f} | {interval} |")
    return "\n".join(lines)


def save_table(records: Sequence[Record], warnings: Sequence[dict[str, Any]], path: Path) -> Path:
    atomic_write_text(path, markdown_table(records, warnings))
    return path


def save_curves(records: Sequence[Record], path: Path, title: str = "") -> Path:
    """Accuracy against epsilon, one panel per norm, one line per (model, defense, threat model); transfers from
    baselines stay in the table. Dashed: the transfer protocol; bars: 95% intervals."""
    robust = [r for r in records if r.metric == ROBUST and not r.extra["threat_model"].startswith("transfer-from:")]
    norms = sorted({r.extra["norm"] for r in robust}, key=lambda n: n != "linf") or ["linf"]
    labels = _labels(robust)
    palette = dict(zip(labels, sns.color_palette("tab10", max(len(labels), 1)), strict=False))
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(norms), figsize=(4.5 * len(norms) + 3, 3.6), squeeze=False)
        for ax, norm in zip(axes[0], norms, strict=True):
            _panel(ax, [r for r in robust if r.extra["norm"] == norm], palette)
            ax.set_title(f"{'L∞' if norm == 'linf' else norm.upper()} {title}".strip())
        handles, names = axes[0][0].get_legend_handles_labels()
        if handles:
            axes[0][-1].legend(handles, names, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
                               frameon=False)
        fig.tight_layout()
    return save_figure(fig, path)


def _label(r: Record) -> str:
    defense = r.extra.get("defense", "none")
    return f"{r.model}{'' if defense == 'none' else ' + ' + defense} · {r.extra['threat_model']}"


def _labels(records: Sequence[Record]) -> list[str]:
    return sorted({_label(r) for r in records})


def _panel(ax: plt.Axes, rows: list[Record], palette: dict[str, Any]) -> None:
    series: dict[str, list[Record]] = defaultdict(list)
    for r in rows:
        series[_label(r)].append(r)
    for label, items in sorted(series.items()):
        items.sort(key=lambda r: r.extra["epsilon"])
        xs, ys = [r.extra["epsilon"] for r in items], [r.value for r in items]
        sns.lineplot(x=xs, y=ys, ax=ax, label=label, color=palette[label], marker="o", markersize=5,
                     linestyle="--" if "transfer" in label else "-", legend=False)
        if all(r.ci_low is not None for r in items):
            err = [[max(y - r.ci_low, 0.0) for y, r in zip(ys, items, strict=True)],
                   [max(r.ci_high - y, 0.0) for y, r in zip(ys, items, strict=True)]]
            ax.errorbar(xs, ys, yerr=err, fmt="none", ecolor=palette[label], alpha=0.5, capsize=2, linewidth=0.8)
    ax.set_xlabel("ε")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
