"""Any ``torch.nn.Module`` as an ebmbench model (``ebmbench.wrap``): energies from an energy head, from logits
(E(x, y) = -logit_y, E(x) = -logsumexp_y logit_y, as in JEM) or from a callable.

ebmbench's data are images in [0, 1]; a network trained on another range (JEM's [-1, 1]) gets its inputs
mapped at this boundary, so every suite, sampler and attack keeps working in [0, 1] and the wrapped model's
``info.value_range`` is always (0, 1). Capabilities follow from what was declared: every energy can be sampled
with the shared Langevin sampler; logits come from logits, or from label-wise energies (-E(x, y)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Capability, Model, ModelInfo
from ebmbench.sampler import ChainResult, LangevinConfig, langevin, uniform_noise

EnergyCallable = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
ENERGY_KINDS = ("logits", "head")


class WrappedModel(Model):
    """A user's network behind the model interface. ``energy`` is ``"logits"``, ``"head"`` (the module returns
    the energy, lower = more likely; a conditional head is called as ``module(x, y)``) or a callable
    ``fn(x, y)`` of inputs already mapped to ``input_range``."""

    family: ClassVar[str] = "wrapped"

    def __init__(self, info: ModelInfo, config: dict[str, Any], net: nn.Module,
                 energy: str | EnergyCallable = "logits") -> None:
        super().__init__(info, config)
        if not (callable(energy) or energy in ENERGY_KINDS):
            raise EbmbenchError(f"energy must be one of {', '.join(ENERGY_KINDS)} or a callable fn(x, y), "
                                f"not {energy!r}")
        if energy == "logits" and info.num_classes < 2:
            raise EbmbenchError("energy='logits' needs num_classes >= 2 (the number of logits)")
        if info.conditional and info.num_classes < 2:
            raise EbmbenchError("a conditional model needs num_classes >= 2")
        self.net = net
        self.energy_kind = energy
        # a user's callable may treat the batch as a whole: its chains are never split into blocks
        self.independent_examples = not callable(energy)
        lo, hi = (float(v) for v in config.get("input_range", (0.0, 1.0)))
        if not hi > lo:
            raise EbmbenchError(f"value_range must be (low, high) with low < high, not {(lo, hi)}")
        self.input_range = (lo, hi)

    @classmethod
    def from_config(cls, info: ModelInfo, config: dict[str, Any]) -> Model:
        raise EbmbenchError("a wrapped model is rebuilt by its own code: use --model-factory, not a checkpoint")

    # ---- the boundary --------------------------------------------------------------------------------------

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> the network's input range."""
        lo, hi = self.input_range
        return x if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * x

    # ---- capabilities --------------------------------------------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:  # type: ignore[override]
        caps = {Capability.ENERGY, Capability.SAMPLE}
        if self.energy_kind == "logits" or self.info.conditional:
            caps.add(Capability.LOGITS)
        return frozenset(caps)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.energy_kind == "logits":
            return self.net(self.to_input(x))
        if self.info.conditional:
            return -self.energy_all_classes(x)
        return super().logits(x)

    def energy(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E(x, y) for labels ``y``; without labels, E(x) (for a conditional model the marginal
        -logsumexp_y -E(x, y), which for logits is JEM's -logsumexp_y logit_y)."""
        if self.energy_kind == "logits":
            logits = self.logits(x)
            if y is None:
                return -torch.logsumexp(logits, dim=1)
            return -logits.gather(1, y.long().view(-1, 1)).squeeze(1)
        if y is None and self.info.conditional:
            return -torch.logsumexp(-self.energy_all_classes(x), dim=1)
        return self._energy(self.to_input(x), y if self.info.conditional else None)

    def _energy(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if callable(self.energy_kind):
            out = self.energy_kind(x, y)
        elif y is None:
            out = self.net(x)
        else:
            out = self.net(x, y)
        if out.dim() == 2 and out.shape[1] == 1:
            out = out.squeeze(1)
        if out.shape != (len(x),):
            raise EbmbenchError(f"the energy must be one number per image, shape ({len(x)},); the wrapped model "
                                f"returned shape {tuple(out.shape)}")
        return out

    def energy_all_classes(self, x: torch.Tensor) -> torch.Tensor:
        if self.energy_kind == "logits":
            return -self.logits(x)
        return super().energy_all_classes(x)

    def sample(self, n: int, config: LangevinConfig, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None, record: bool = False) -> ChainResult:
        """Langevin chains from uniform noise in [0, 1] (the shared sampler), for labels ``y`` when conditional."""
        if self.info.conditional and y is None:
            raise ValueError("a conditional model samples for given labels y")
        device = next(self.parameters()).device
        x0 = uniform_noise(n, self.info.input_shape, self.info.value_range, device, generator)
        return langevin(self.energy, x0, config, y if self.info.conditional else None, generator, record, self,
                        micro_batch="auto")


def wrap(module: nn.Module, energy: str | EnergyCallable = "logits", input_shape: tuple[int, ...] = (3, 32, 32),
         value_range: tuple[float, float] = (0.0, 1.0), num_classes: int = 0, conditional: bool | None = None,
         dataset: str = "cifar10", name: str = "wrapped") -> WrappedModel:
    """Turn any ``torch.nn.Module`` into an ebmbench model.

    ``energy``: ``"logits"`` (the module returns class logits; E(x, y) = -logit_y, E(x) = -logsumexp),
    ``"head"`` (the module returns the energy; called as ``module(x, y)`` when conditional) or a callable
    ``fn(x, y) -> energies`` of inputs already mapped to ``value_range``. ``value_range``: the range the module
    expects its inputs in (ebmbench's images, in [0, 1], are mapped to it). ``conditional`` defaults to True
    for logits (JEM's E(x, y)), else False. The module is put in eval mode."""
    if not isinstance(module, nn.Module):
        raise EbmbenchError(f"ebmbench.wrap expects a torch.nn.Module, not {type(module).__name__}")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise EbmbenchError(f"input_shape must be (channels, height, width), not {input_shape!r}")
    conditional = (energy == "logits") if conditional is None else bool(conditional)
    info = ModelInfo(family="wrapped", dataset=dataset, input_shape=shape, num_classes=int(num_classes),
                     conditional=conditional)
    config = {"input_range": [float(value_range[0]), float(value_range[1])], "module": type(module).__name__,
              "energy": energy if isinstance(energy, str) else getattr(energy, "__name__", "callable"),
              "name": name}
    return WrappedModel(info, config, module, energy).eval()
