"""JEM (Grathwohl et al. 2019, "Your classifier is secretly an energy based model"): a classifier whose logits
define the energies E(x, y) = -f(x)[y] and E(x) = -logsumexp_y f(x)[y].

Two architectures: ``wrn`` (JEM's Wide ResNet with the heads ``energy_output`` and ``class_output``; the
CIFAR-size default, and what ``ebmbench import jem`` builds) and ``small`` (ebmbench's small conv net with one
output per class, for the 8x8 digits). The network sees inputs in ``input_range`` (JEM's [-1, 1]); ebmbench's
[0, 1] images are mapped at the model boundary (see ``models.wrapped``).

Two heads (``config["head"]``, JEM's ``--uncond`` switch): ``ccf`` (the default, JEM's CCF) reads the logits
as above and is class-conditional; ``f`` (JEM's unconditional model F, ``wrn`` only) takes its energy from the
one-output head, E(x) = -energy_output(f(x)) (F returns that output as an unnormalised log-density, and its
SGLD climbs it). F is an unconditional EBM (no E(x, y)) that still classifies: its ``class_output`` logits,
trained by JEM's p(y|x) term, are its ``logits``; they are not tied to its energy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ebmbench.models.base import Capability, ModelInfo
from ebmbench.models.networks import build_network
from ebmbench.models.wrapped import WrappedModel
from ebmbench.models.wrn import CCFNet

HEADS = ("ccf", "f")


def build_jem_network(config: dict[str, Any], in_channels: int, num_classes: int) -> nn.Module:
    """The logits network a JEM config describes."""
    if config["arch"] == "wrn":
        return CCFNet(int(config["depth"]), int(config["width"]), in_channels, num_classes,
                      str(config.get("norm", "none")))
    kw = {k: v for k, v in config.items() if k not in {"input_range", "head"}}
    return build_network(kw, in_channels, out_dim=num_classes, num_cond=0)


class JEM(WrappedModel):
    """A JEM: a classifier read as a conditional EBM, E(x, y) = -logit_y (Grathwohl et al. 2019); or, with
    ``head="f"``, JEM's unconditional F, E(x) = -energy_output(f(x)), which classifies with its class head."""

    family: ClassVar[str] = "jem"

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        head = str(config.get("head", "ccf"))
        if head not in HEADS:
            raise ValueError(f"a JEM's head is one of {', '.join(HEADS)}, not {head!r}")
        if info.num_classes < 2:
            raise ValueError(f"a JEM needs two or more classes, not {info.num_classes}")
        if head == "ccf" and not info.conditional:
            raise ValueError("a JEM with the ccf head is class-conditional (its logits are -E(x, y))")
        if head == "f" and (info.conditional or config["arch"] != "wrn"):
            raise ValueError("JEM's F (head f) is an unconditional Wide ResNet (arch wrn, conditional false)")
        net = build_jem_network(config, info.input_shape[0], info.num_classes)
        super().__init__(info, config, net, energy="logits" if head == "ccf" else "head")
        self.head = head

    @classmethod
    def from_config(cls, info: ModelInfo, config: dict[str, Any]) -> JEM:
        return cls(info, config)

    @property
    def capabilities(self) -> frozenset[Capability]:  # type: ignore[override]
        """Energy, sampling and logits, whichever the head (F classifies with its class head)."""
        return frozenset({Capability.ENERGY, Capability.SAMPLE, Capability.LOGITS})

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.to_input(x))

    def _energy(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """F's energy, -energy_output(f(x)), of inputs already in ``input_range`` (the ccf head never gets here:
        its energies come from the logits)."""
        return -self.net.log_density(x)
