"""JEM (Grathwohl et al. 2019, "Your classifier is secretly an energy based model"): a classifier whose logits
define the energies E(x, y) = -f(x)[y] and E(x) = -logsumexp_y f(x)[y].

Two architectures: ``wrn`` (JEM's Wide ResNet with the heads ``energy_output`` and ``class_output``; the
CIFAR-size default, and what ``ebmbench import jem`` builds) and ``small`` (ebmbench's small conv net with one
output per class, for the 8x8 digits). The network sees inputs in ``input_range`` (JEM's [-1, 1]); ebmbench's
[0, 1] images are mapped at the model boundary (see ``models.wrapped``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from ebmbench.models.base import ModelInfo
from ebmbench.models.networks import build_network
from ebmbench.models.wrapped import WrappedModel
from ebmbench.models.wrn import CCFNet


def build_jem_network(config: dict[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    """The logits network a JEM config describes."""
    if config["arch"] == "wrn":
        return CCFNet(int(config["depth"]), int(config["width"]), in_channels, num_classes,
                      str(config.get("norm", "none")))
    kw = {k: v for k, v in config.items() if k not in {"input_range"}}
    return build_network(kw, in_channels, out_dim=num_classes, num_cond=0)


class JEM(WrappedModel):
    """A JEM: a classifier read as a conditional EBM, E(x, y) = -logit_y (Grathwohl et al. 2019)."""

    family: ClassVar[str] = "jem"

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        if info.num_classes < 2:
            raise ValueError(f"a JEM needs two or more classes, not {info.num_classes}")
        if not info.conditional:
            raise ValueError("a JEM is class-conditional (its logits are -E(x, y))")
        net = build_jem_network(config, info.input_shape[0], info.num_classes)
        super().__init__(info, config, net, energy="logits")

    @classmethod
    def from_config(cls, info: ModelInfo, config: dict[str, Any]) -> JEM:
        return cls(info, config)
