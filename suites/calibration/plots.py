"""The calibration suite's figure: one reliability diagram per classifier view."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ebmbench.plots import save_figure
from ebmbench.suites.calibration.metrics import Reliability


def reliability_diagrams(tables: dict[str, tuple[Reliability, float]], path: Path, title: str = "") -> Path:
    """Accuracy per confidence bin (bars) against the diagonal of perfect calibration, with the gap shaded and
    each bin's share of predictions below; panel titles give the view and its ECE."""
    import matplotlib.pyplot as plt

    cols = min(3, len(tables))
    rows = math.ceil(len(tables) / cols)
    fig, axes = plt.subplots(2 * rows, cols, figsize=(4 * cols, 4.2 * rows), squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": [3, 1] * rows})
    for i, (name, (table, ece)) in enumerate(tables.items()):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        width = np.diff(table.edges)
        left = table.edges[:-1]
        full = table.counts > 0
        top.bar(left[full], table.accuracy[full], width=width[full], align="edge", edgecolor="black",
                color="tab:blue", label="accuracy")
        low = np.minimum(table.accuracy[full], table.confidence[full])
        top.bar(left[full], np.abs(table.confidence[full] - table.accuracy[full]), bottom=low, width=width[full],
                align="edge", color="tab:red", alpha=0.35, hatch="//", edgecolor="tab:red",
                label="gap to mean confidence")
        top.plot([0, 1], [0, 1], linestyle="--", color="grey")
        top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=f"{name}\nECE {ece:.3f}")
        top.legend(fontsize=7, loc="upper left")
        bottom.bar(left, table.counts / max(table.counts.sum(), 1), width=width, align="edge", color="grey")
        bottom.set(xlim=(0, 1), xlabel="confidence (top-class probability)", ylabel="share")
    for j in range(len(tables), rows * cols):
        axes[2 * (j // cols), j % cols].axis("off")
        axes[2 * (j // cols) + 1, j % cols].axis("off")
    fig.suptitle(title)
    return save_figure(fig, path)
