"""The energy-based model: a network E(x) or E(x, y) (lower = more likely)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ebmbench.models.base import Capability, Model, ModelInfo
from ebmbench.models.networks import build_network
from ebmbench.sampler import ChainResult, LangevinConfig, langevin, uniform_noise


class EnergyModel(Model):
    """An EBM in the style of Du & Mordatch (2019); conditional models take the label as modulation."""

    family: ClassVar[str] = "ebm"

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        super().__init__(info, config)
        num_cond = info.num_classes if info.conditional else 0
        self.net = build_network(config, info.input_shape[0], out_dim=1, num_cond=num_cond)

    def energy(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.info.conditional and y is None:
            raise ValueError("a conditional EBM needs labels; use energy_all_classes for every label")
        return self.net(x, y if self.info.conditional else None).squeeze(-1)

    def energy_all_classes(self, x: torch.Tensor) -> torch.Tensor:
        """E(x, y) for every label in one batched pass, shape (batch, classes)."""
        if not self.info.conditional:
            return super().energy_all_classes(x)
        k = self.info.num_classes
        labels = torch.arange(k, device=x.device).repeat(len(x))
        return self.net(x.repeat_interleave(k, dim=0), labels).view(len(x), k)

    def sample(self, n: int, config: LangevinConfig, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None, record: bool = False) -> ChainResult:
        """Langevin chains from uniform noise (the shared sampler), for labels ``y`` when conditional."""
        device = next(self.parameters()).device
        x0 = uniform_noise(n, self.info.input_shape, self.info.value_range, device, generator)
        if self.info.conditional and y is None:
            raise ValueError("a conditional EBM samples for given labels y")
        return langevin(self.energy, x0, config, y if self.info.conditional else None, generator, record, self,
                        micro_batch="auto")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """For a conditional EBM, the classifier view: logits = -E(x, y)."""
        return -self.energy_all_classes(x)

    @property
    def capabilities(self) -> frozenset[Capability]:  # type: ignore[override]
        """Energy and sampling; conditional models also classify."""
        base = {Capability.ENERGY, Capability.SAMPLE}
        return frozenset(base | {Capability.LOGITS}) if self.info.conditional else frozenset(base)
