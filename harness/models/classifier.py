"""A plain classifier: the baseline for classifier OOD scores and for robustness comparisons."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ebmbench.models.base import Capability, Model, ModelInfo
from ebmbench.models.networks import build_network


class Classifier(Model):
    """Logits from the same network families as the EBM, with one output per class."""

    family: ClassVar[str] = "classifier"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LOGITS})

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        super().__init__(info, config)
        self.net = build_network(config, info.input_shape[0], out_dim=info.num_classes, num_cond=0)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
