"""PGD through torchattacks: the one builder of projected-gradient attacks, used by adversarial training
(``ebmbench.training.classifier``) and the robustness suite.

L∞ and L2 PGD as torchattacks implements them (inputs in [0, 1], models that return logits); with EOT
(gradients summed over several forwards of a stochastic model) ``torchattacks.EOTPGD`` for L∞ and
``EOTPGDL2`` below for L2, which torchattacks lacks.
"""

from __future__ import annotations

from typing import Literal

import torch
import torchattacks
from torch import nn

Norm = Literal["linf", "l2"]
NORMS: tuple[Norm, ...] = ("linf", "l2")


def step_size(eps: float, steps: int, factor: float = 2.5) -> float:
    """Madry et al.'s rule: ``factor * eps / steps`` (factor 2.5 lets PGD cross the ball and back)."""
    return factor * eps / max(steps, 1)


def make_pgd(module: nn.Module, norm: Norm, eps: float, steps: int, alpha: float, eot: int = 1,
             random_start: bool = True) -> torchattacks.Attack:
    """PGD in ``norm`` with radius ``eps``, ``steps`` steps of size ``alpha``; ``eot`` > 1 sums each step's
    gradient over that many forwards (for stochastic models)."""
    kwargs = {"eps": eps, "alpha": alpha, "steps": steps, "random_start": random_start}
    if eot <= 1:
        return (torchattacks.PGD if norm == "linf" else torchattacks.PGDL2)(module, **kwargs)
    if norm == "linf":
        return torchattacks.EOTPGD(module, eot_iter=eot, **kwargs)
    return EOTPGDL2(module, eot_iter=eot, **kwargs)


class EOTPGDL2(torchattacks.PGDL2):
    """PGDL2 whose every step follows the gradient summed over ``eot_iter`` forwards of a stochastic model."""

    def __init__(self, model: nn.Module, eps: float = 1.0, alpha: float = 0.2, steps: int = 10, eot_iter: int = 2,
                 random_start: bool = True) -> None:
        super().__init__(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start)
        self.attack = "EOTPGDL2"
        self.eot_iter = eot_iter

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv = self._random_start(images) if self.random_start else images.clone()
        loss = nn.CrossEntropyLoss()
        for _ in range(self.steps):
            adv.requires_grad_(True)
            grad = torch.zeros_like(adv)
            for _ in range(self.eot_iter):
                grad += torch.autograd.grad(loss(self.get_logits(adv), labels), adv)[0]
            adv = self._project(images, adv.detach() + self.alpha * _unit(grad, self.eps_for_division))
        return adv

    def _random_start(self, images: torch.Tensor) -> torch.Tensor:
        """A uniform radius along a Gaussian direction, as PGDL2 starts (same random calls, same order)."""
        direction = torch.empty_like(images).normal_()
        norms = direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        radius = torch.zeros_like(norms).uniform_(0, 1)
        return (images + direction * (radius / norms * self.eps)).clamp(0, 1).detach()

    def _project(self, images: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
        delta = adv - images
        norms = delta.flatten(1).norm(dim=1)
        factor = torch.clamp(self.eps / norms.clamp_min(1e-12), max=1.0)
        return (images + delta * factor.view(-1, 1, 1, 1)).clamp(0, 1).detach()


def _unit(grad: torch.Tensor, tiny: float) -> torch.Tensor:
    return grad / (grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + tiny)
