"""The quality suite's figures: a grid of samples (one row per class for conditional models), the chains' energy
trace, and FID / IS against the number of sampling steps with the real and noise rows as floor and ceiling."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebmbench.plots import save_figure, save_image_grid
from ebmbench.records import Record

MIN_TILE = 32  # pixels per grid tile at least


def sample_grid(images: np.ndarray, labels: np.ndarray | None, path: Path, per_row: int = 10,
                max_rows: int = 10) -> Path:
    """uint8 samples as a PNG grid; with labels, row k holds samples of class k."""
    if labels is None:
        count = min(len(images), per_row * max_rows)
        picked = np.asarray(images[:count])
    else:
        classes = np.unique(labels)
        per_class = min(per_row, *(int((labels == k).sum()) for k in classes))
        picked = np.concatenate([np.asarray(images[np.flatnonzero(labels == k)[:per_class]]) for k in classes])
        per_row = per_class
    scale = max(1, -(-MIN_TILE // picked.shape[-1]))  # small images (8x8 digits) enlarged, pixels kept sharp
    tiles = picked.repeat(scale, axis=-2).repeat(scale, axis=-1)
    return save_image_grid(tiles.astype(np.float32) / 255.0, path, nrow=max(per_row, 1))


def energy_trace(traces: dict[int, dict[str, list[float]]], path: Path, title: str = "", unit: str = "steps") -> Path:
    """Mean energy of the chains (± one standard deviation) at every step, one line per step budget."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for steps, trace in sorted(traces.items()):
        x, mean, std = (np.asarray(trace[k], dtype=float) for k in ("step", "mean", "std"))
        ax.plot(x, mean, marker="o" if len(x) < 3 else None, label=f"{steps} {unit}")
        ax.fill_between(x, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel("Langevin step")
    ax.set_ylabel("energy E(x) of the chains")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def quality_vs_steps(records: list[Record], path: Path, extractor: str, title: str = "") -> Path:
    """FID and IS of the samples against steps; dashed lines: the held-out real and uniform-noise rows."""
    import matplotlib.pyplot as plt

    panels = [(m, label) for m, label in (("fid", "FID"), ("inception_score", "IS"))
              if any(r.metric == m for r in records)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (metric, label) in zip(axes[0], panels, strict=True):
        points = sorted((r.extra["steps"], r.value) for r in records
                        if r.metric == metric and r.eval_set == "samples" and "steps" in r.extra)
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label="samples")
        for r in records:
            if r.metric == metric and r.eval_set != "samples":
                ax.axhline(r.value, linestyle="--", color="grey" if r.eval_set == "uniform" else "green",
                           label=r.eval_set)
        ax.set_xlabel("Langevin steps")
        ax.set_ylabel(f"{label} [{extractor}]")
        ax.legend()
    fig.suptitle(title)
    return save_figure(fig, path)
