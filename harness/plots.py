"""Small plotting helpers (seaborn on the Agg backend), written atomically into run directories."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from ebmbench.atomic import atomic_path


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save and close ``fig``; the file appears only when complete."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def save_histograms(values: dict[str, np.ndarray], path: Path, xlabel: str, title: str = "") -> Path:
    """Overlaid histograms of one score per named set."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, v in values.items():
        sns.histplot(v, ax=ax, label=name, stat="density", element="step", fill=False, bins=50)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def save_image_grid(images: np.ndarray, path: Path, nrow: int) -> Path:
    """A grid of images (N, C, H, W in [0, 1]) as one PNG, ``nrow`` images per row."""
    import torch
    from torchvision.utils import save_image

    with atomic_path(path) as tmp:
        save_image(torch.as_tensor(images).float(), str(tmp), nrow=nrow, padding=1, pad_value=1.0, format="png")
    return path
