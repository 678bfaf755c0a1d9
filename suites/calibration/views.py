"""The classifier views the calibration suite measures, found by capability, never by model name.

- every model with logits (the model under test, ``--baseline`` models, the default baselines): its own
  logits, ``view = "plain"`` (for a conditional EBM that is -E(x, y) for every label; a JEM's are its
  classifier's logits);
- every model with energy and logits, when purification is on: the reference paper's Langevin purification
  first, then the logits (``view = "purified"``), drawn once with a seeded generator. It is the robustness
  suite's defense with its defaults (K Langevin steps from the input, each clamped to a box around it; for a
  conditional model one chain per label under E(x, y), label y scored at its own chain's end), run without a
  graph: calibration needs its outputs, not its gradients. The purification is ``ebmbench.purification``, the
  same code the robustness suite attacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ebmbench.models.base import Capability, Model
from ebmbench.purification import Purification, PurifiedView, default_radius

__all__ = ["Purification", "View", "classifier_views", "default_radius"]


@dataclass
class View:
    """One classifier to measure: the model's name, which view, and the function from images to logits."""

    model: str
    view: str
    logits: Callable[[torch.Tensor], torch.Tensor]
    defense: str = ""  # the purification, described, for a purified view


def classifier_views(models: dict[str, Model], purification: Purification | None,
                     generator: torch.Generator | None) -> tuple[list[View], list[str]]:
    """The views of ``models`` (in order) and the names of models skipped for having no logits."""
    views, skipped = [], []
    for name, model in models.items():
        if not model.has(Capability.LOGITS):
            skipped.append(name)
            continue
        views.append(View(name, "plain", model.logits))
        own = purification.for_model(model) if purification is not None else None
        if own is not None and model.has(Capability.ENERGY) and (model.info.conditional or not own.per_class):
            view = PurifiedView(model, own, "bpda", generator)
            views.append(View(name, "purified", lambda x, v=view: v(x).detach(), own.describe()))
    return views, skipped
