"""The mcmc suite's figure: energy traces of the chains with each label's burn-in marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebmbench.plots import save_figure

MAX_GROUPS = 10


def energy_traces(energy: np.ndarray, labels: np.ndarray, burn_in: dict[int, int], path: Path,
                  title: str = "") -> Path:
    """Every chain's energy (thin) and each label's mean (thick) against the step; dashed: the burn-in (MSER)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    steps = np.arange(energy.shape[1])
    colours = plt.get_cmap("tab10")
    for i, label in enumerate(list(dict.fromkeys(labels.tolist()))[:MAX_GROUPS]):
        colour = colours(i % 10)
        members = energy[labels == label]
        ax.plot(steps, members.T, color=colour, alpha=0.25, linewidth=0.7)
        name = "chains" if label == -1 else f"label {label}"
        ax.plot(steps, members.mean(axis=0), color=colour, linewidth=2, label=name)
        ax.axvline(burn_in.get(label, 0), color=colour, linestyle="--", linewidth=1)
    ax.set_xlabel("Langevin step")
    ax.set_ylabel("energy E(x)")
    ax.set_title(title + "\n(dashed: burn-in estimate, MSER)", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    return save_figure(fig, path)
