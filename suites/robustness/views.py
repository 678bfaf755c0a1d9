"""Classifier views of a model for the robustness suite: what an attack differentiates and what is evaluated.

A view is an ``nn.Module`` whose forward returns logits for images in [0, 1] (the form torchattacks expects).

- ``PlainView``: the model's own logits; for a conditional EBM that is -E(x, y) for every label in one batched
  pass, for a classifier its logits.
- ``PurifiedView``: K Langevin steps from the input first (the reference paper's defense), then the logits; it
  lives in ``ebmbench.purification`` (shared with the calibration suite) and is re-exported here.
"""

from __future__ import annotations

import torch
from torch import nn

from ebmbench.models.base import Model
from ebmbench.purification import Gradient, Purification, PurifiedView, can_purify, check_purifiable

__all__ = ["Gradient", "PlainView", "Purification", "PurifiedView", "can_purify", "check_purifiable"]


class PlainView(nn.Module):
    """The model's logits as they are (a conditional EBM: -E(x, y) for all labels in one batched pass)."""

    stochastic = False

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.logits(x)
