"""The classifier views the calibration suite measures, found by capability, never by model name.

- every model with logits (the model under test, ``--baseline`` models, the default baselines): its own
  logits, ``view = "plain"`` (for a conditional EBM that is -E(x, y) for every label; a JEM's are its
  classifier's logits);
- every model with energy and logits, when purification is on: the reference paper's Langevin purification
  first, then the logits (``view = "purified"``), drawn once with a seeded generator. It is the robustness
  suite's defense with its defaults (K Langevin steps from the input, each clamped to a box around it; for a
  conditional model one chain per label under E(x, y), label y scored at its own chain's end), run without a
  graph: calibration needs its outputs, not its gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ebmbench.models.base import Capability, Model
from ebmbench.sampler import LangevinConfig, box_projection, langevin
from ebmbench.scoring import free_energy

PAPER_RADIUS, SMALL_RADIUS = 8 / 255, 0.1  # the robustness suite's box: 8/255, or 0.1 under 32 pixels a side


def default_radius(shape: tuple[int, ...]) -> float:
    return SMALL_RADIUS if min(shape[-2:]) < 32 else PAPER_RADIUS


@dataclass(frozen=True)
class Purification:
    """K Langevin steps from the input inside a box of ``radius`` (None: no box); ``per_class`` as above (None:
    for conditional models, see ``for_model``)."""

    steps: int
    step_size: float
    noise: float
    grad_clip: float | None
    radius: float | None
    per_class: bool | None

    def for_model(self, model: Model) -> Purification:
        """This purification with ``per_class`` decided for ``model`` when it was left open."""
        return self if self.per_class is not None else replace(self, per_class=model.info.conditional)

    def describe(self) -> str:
        radius = "none" if self.radius is None else f"{self.radius:.4g}"
        mode = "per-class" if self.per_class else "marginal"
        return (f"langevin(K={self.steps}, step={self.step_size:g}, noise={self.noise:g}, clip={self.grad_clip}, "
                f"radius={radius}, {mode})")


@dataclass
class View:
    """One classifier to measure: the model's name, which view, and the function from images to logits."""

    model: str
    view: str
    logits: Callable[[torch.Tensor], torch.Tensor]
    defense: str = ""  # the purification, described, for a purified view


def purified_logits(model: Model, x: torch.Tensor, p: Purification, generator: torch.Generator | None
                    ) -> torch.Tensor:
    """The logits of ``x`` after purification (see the module docstring)."""
    config = LangevinConfig(steps=p.steps, step_size=p.step_size, noise=p.noise, grad_clip=p.grad_clip,
                            clamp=tuple(model.info.value_range))
    if p.per_class:
        k = model.info.num_classes
        labels = torch.arange(k, device=x.device).repeat(len(x))
        start = x.repeat_interleave(k, dim=0)
        out = langevin(model.energy, start, config, y=labels, generator=generator, model=model,
                       project=box_projection(start, p.radius)).x
        with torch.no_grad():
            return -model.energy(out, labels).view(len(x), k)
    energy = (lambda z, _y: free_energy(model, z)) if model.info.conditional else (lambda z, _y: model.energy(z))
    out = langevin(energy, x, config, generator=generator, model=model, project=box_projection(x, p.radius)).x
    with torch.no_grad():
        return model.logits(out)



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
            views.append(View(name, "purified", lambda x, m=model, p=own: purified_logits(m, x, p, generator),
                              own.describe()))
    return views, skipped
