"""The classifier views the calibration suite measures, found by capability, never by model name.

- every model with logits (the model under test, ``--baseline`` models, the default baselines): its own
  logits, ``view = "plain"`` (for a conditional EBM that is -E(x, y) for every label; a JEM's are its
  classifier's logits);
- every model with energy and logits, when purification is on: the reference paper's Langevin purification
  first, then the logits (``view = "purified"``), drawn once with a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ebmbench.models.base import Capability, Model
from ebmbench.suites.robustness.views import PlainView, Purification, PurifiedView, can_purify


@dataclass
class View:
    """One classifier to measure: the model's name, which view, and the module returning logits."""

    model: str
    view: str
    module: nn.Module


def classifier_views(models: dict[str, Model], purification: Purification | None,
                     generator: torch.Generator | None) -> tuple[list[View], list[str]]:
    """The views of ``models`` (in order) and the names of models skipped for having no logits."""
    views, skipped = [], []
    for name, model in models.items():
        if not model.has(Capability.LOGITS):
            skipped.append(name)
            continue
        views.append(View(name, "plain", PlainView(model)))
        if purification is not None and can_purify(model) and (model.info.conditional or not purification.per_class):
            views.append(View(name, "purified", PurifiedView(model, purification, generator=generator)))
    return views, skipped
