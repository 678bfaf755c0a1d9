"""Langevin purification (Du & Mordatch 2019, section 4.3): K Langevin steps from the input inside a box around
it, then the classifier's logits. One implementation shared by the suites that evaluate a purified classifier
(robustness attacks it, calibration measures its probabilities), so both always measure the same defense.

``PurifiedView`` is an ``nn.Module`` whose forward returns logits for images in the data range (the form
torchattacks expects). Its ``gradient`` says what an attack sees through the purification: ``"bpda"``
(straight-through: the chain is run without a graph and its Jacobian taken as the identity) or ``"full"`` (the
unrolled chain, differentiated step by step). Its sampler noise is fresh on each forward unless a generator is
given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Capability, Model
from ebmbench.sampler import LangevinConfig, LangevinOptions, box_projection, langevin, zero_energy
from ebmbench.scoring import free_energy

Gradient = Literal["bpda", "full"]
PAPER_RADIUS, SMALL_RADIUS = 8 / 255, 0.1


def default_radius(shape: Sequence[int]) -> float:
    """The box's radius: the paper's 8/255, scaled up to 0.1 for images under 32 pixels a side (like the
    robustness suite's epsilon grid)."""
    return SMALL_RADIUS if min(shape[-2:]) < 32 else PAPER_RADIUS


@dataclass(frozen=True)
class Purification:
    """K Langevin steps from the input, each clamped to a box of ``radius`` around it (and the data range).

    ``per_class``: run one chain per label under E(x, y) and score label y at its own chain's end (the reference
    code's protocol); otherwise one chain under the model's marginal energy, scored for every label; None leaves
    it to ``for_model``.
    ``energy``: False makes the noise-only control: the same steps, noise, clip and box with the energy gradient
    removed, so that what purification gains beyond its randomness can be measured (``control()``).
    """

    steps: int = 10
    sampler: LangevinOptions = field(default_factory=LangevinOptions)
    radius: float | None = 8 / 255
    per_class: bool | None = True
    energy: bool = True

    def for_model(self, model: Model) -> Purification:
        """This purification with ``per_class`` decided for ``model`` when left open (None): a chain per label
        for class-conditional models, one marginal chain otherwise."""
        return self if self.per_class is not None else replace(self, per_class=model.info.conditional)

    def control(self) -> Purification:
        """The noise-only control of this purification."""
        return replace(self, energy=False)

    def chain(self, value_range: tuple[float, float]) -> LangevinConfig:
        return self.sampler.chain(self.steps, clamp=value_range)

    def describe(self) -> str:
        radius = "none" if self.radius is None else f"{self.radius:.4g}"
        mode = "per-class" if self.per_class else "marginal"
        s, kind = self.sampler, "langevin" if self.energy else "noise-only"
        return (f"{kind}(K={self.steps}, step={s.step_size:g}, noise={s.noise:g}, clip={s.grad_clip}, "
                f"radius={radius}, {mode})")


class PurifiedView(nn.Module):
    """Langevin purification, then the logits; see the module docstring for ``gradient``."""

    stochastic = True

    def __init__(self, model: Model, purification: Purification, gradient: Gradient = "bpda",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        purification = purification.for_model(model)
        check_purifiable(model, purification)
        self.model = model
        self.purification = purification
        self.gradient = gradient
        self.generator = generator

    def with_generator(self, generator: torch.Generator | None) -> PurifiedView:
        """The same view drawing its sampler noise from ``generator`` (for repeatable evaluation draws)."""
        return PurifiedView(self.model, self.purification, self.gradient, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.purification.per_class:
            return self._per_class(x)
        return self.model.logits(self._through(self._purify(x, self._marginal_energy(), None)))

    def _per_class(self, x: torch.Tensor) -> torch.Tensor:
        k = self.model.info.num_classes
        labels = torch.arange(k, device=x.device).repeat(len(x))
        chains = self._purify(x.repeat_interleave(k, dim=0), self.model.energy, labels)
        return -self.model.energy(self._through(chains), labels).view(len(x), k)

    def _purify(self, x: torch.Tensor, energy: Callable, labels: torch.Tensor | None) -> tuple:
        unrolled = self.gradient == "full" and x.requires_grad
        start = x if unrolled else x.detach()
        cfg = self.purification.chain(self.model.info.value_range)
        energy = energy if self.purification.energy else zero_energy
        out = langevin(energy, start, cfg, y=labels, generator=self.generator, model=self.model,
                       project=box_projection(start, self.purification.radius), differentiable=unrolled,
                       inplace=not unrolled, channels_last=not unrolled, micro_batch="auto").x
        return x, out, unrolled

    @staticmethod
    def _through(chain: tuple) -> torch.Tensor:
        """The chain's end; with BPDA, the input plus the chain's displacement as a constant."""
        x, out, unrolled = chain
        return out if unrolled else x + (out - x).detach()

    def _marginal_energy(self) -> Callable:
        if self.model.info.conditional:
            return lambda x, _y: free_energy(self.model, x)
        return lambda x, _y: self.model.energy(x)




def can_purify(model: Model) -> bool:
    """Purification needs an energy to descend and logits to read."""
    return model.has(Capability.ENERGY) and model.has(Capability.LOGITS)


def check_purifiable(model: Model, purification: Purification) -> None:
    if not can_purify(model):
        raise EbmbenchError(f"purification needs a model with energy and logits; the {model.family} model has "
                            f"{', '.join(sorted(c.value for c in model.capabilities)) or 'nothing'}")
    if purification.per_class and not model.info.conditional:
        raise EbmbenchError("per-class purification needs a class-conditional energy; set purify_per_class=false")
