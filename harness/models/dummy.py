"""A model with a known energy, for tests: E(x) = ||x - mean||^2 / (2 var), so p(x) is Gaussian."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ebmbench.models.base import Capability, Model, ModelInfo


class QuadraticEnergy(Model):
    """Gaussian energy with per-pixel ``mean`` and scalar ``std`` from the config; also gives log p(x)."""

    family: ClassVar[str] = "dummy"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.ENERGY, Capability.SAMPLE, Capability.LOG_PROB})

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        super().__init__(info, config)
        self.mean = nn.Parameter(torch.full(info.input_shape, float(config.get("mean", 0.5))))
        self.std = float(config.get("std", 0.1))

    def energy(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return ((x - self.mean) ** 2).flatten(1).sum(1) / (2 * self.std**2)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        d = self.mean.numel()
        return -self.energy(x) - d * (torch.log(torch.tensor(self.std)) + 0.5 * torch.log(torch.tensor(2 * torch.pi)))
