"""The restoration suite's figures: a grid of clean / corrupted / baseline / restored images per corruption, and
PSNR and SSIM against the number of Langevin steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebmbench.plots import save_figure
from ebmbench.records import Record

COLUMNS = (("clean", "clean"), ("corrupted", "corrupted"), ("baseline", "simple baseline"),
           ("restored", "EBM restored"))


def _strip(images: np.ndarray) -> np.ndarray:
    """(k, C, H, W) in [0, 1] side by side with a one-pixel white gap, as an H x W' (x 3) image."""
    k, c, h, w = images.shape
    out = np.ones((c, h, k * (w + 1) - 1))
    for i in range(k):
        out[:, :, i * (w + 1):i * (w + 1) + w] = images[i]
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def restoration_grid(shown: dict[str, dict[str, np.ndarray]], path: Path, title: str = "") -> Path:
    """One row per corruption, one panel per stage (clean, corrupted, baseline, restored)."""
    import matplotlib.pyplot as plt

    rows = max(len(shown), 1)
    first = next(iter(shown.values()), {"clean": np.zeros((1, 1, 8, 8))})["clean"]
    aspect = first.shape[-2] / (len(first) * (first.shape[-1] + 1))  # height / width of one strip
    width = 3.2
    fig, axes = plt.subplots(rows, len(COLUMNS), figsize=(width * len(COLUMNS), rows * (width * aspect + 0.15) + 0.6),
                             squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.15})
    for r, (name, images) in enumerate(shown.items()):
        for col, (key, label) in enumerate(COLUMNS):
            ax = axes[r, col]
            ax.imshow(np.clip(_strip(images[key]), 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=9)
            if col == 0:
                ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def metric_vs_steps(records: list[Record], model: str, path: Path, title: str = "") -> Path:
    """PSNR and SSIM of the model's restorations against steps, one line per corruption; dashed: the corrupted
    input, dotted: the simple baseline (same colour)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sets = list(dict.fromkeys(r.eval_set for r in records if r.metric == "psnr"))
    colours = plt.get_cmap("tab10")
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB)"), (axes[1], "ssim", "SSIM")):
        for i, name in enumerate(sets):
            colour = colours(i % 10)
            mine = sorted((r.extra["steps"], r.value) for r in records
                          if r.metric == metric and r.eval_set == name and r.model == model and "steps" in r.extra)
            if mine:
                ax.plot(*zip(*mine, strict=True), marker="o", color=colour, label=name)
            for r in records:
                if r.metric == metric and r.eval_set == name and r.model != model:
                    ax.axhline(r.value, color=colour, linewidth=0.8,
                               linestyle="--" if r.model == "corrupted-input" else ":")
        ax.set_xlabel("Langevin steps from the corrupted image")
        ax.set_ylabel(label)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="center left", bbox_to_anchor=(0.91, 0.5), title="corruption")
    fig.suptitle(title + " (dashed: corrupted input; dotted: simple baseline)", fontsize=10)
    return save_figure(fig, path)
