"""Attacks for the robustness suite, all through torchattacks (inputs in [0, 1], models that return logits).

PGD, with or without EOT, from the one PGD builder (``ebmbench.attacks.make_pgd``); torchattacks' gradient-free
Square attack (L∞ and L2); optional AutoAttack. Epsilon grids default to 1/255 units for CIFAR-sized images and
to a grid scaled to the data for small images such as the 8x8 digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import torch
import torchattacks
from torch import nn

from ebmbench import distributed, seeds
from ebmbench.attacks import NORMS, Norm, make_pgd, step_size
from ebmbench.errors import EbmbenchError
from ebmbench.purification import default_radius

__all__ = ["NORMS", "AttackSpec", "Norm", "attack_batches", "default_grid", "default_radius", "make_attack",
           "parse_eps", "step_size"]

# For 32x32 colour images a sweep in 1/255 units like the reference paper's figure (its code attacks with
# 2/255 PGD steps and purifies within 8/255 of the input); for small images (8x8 digits, 64 pixels) grids
# scaled to the data, where a PGD-trained classifier is still measurably robust at the low end and nothing
# is at the top end.
PAPER_GRID = {"linf": ("0", "2/255", "4/255", "8/255", "16/255", "30/255"),
              "l2": ("0", "20/255", "40/255", "80/255", "160/255", "300/255")}
SMALL_GRID = {"linf": ("0", "0.05", "0.1", "0.2", "0.3"), "l2": ("0", "0.25", "0.5", "1", "1.5")}


def is_small(shape: Sequence[int]) -> bool:
    """Images under 32 pixels a side get the scaled defaults."""
    return min(shape[-2:]) < 32


def default_grid(norm: Norm, shape: Sequence[int]) -> tuple[str, ...]:
    return (SMALL_GRID if is_small(shape) else PAPER_GRID)[norm]


def parse_eps(text: str) -> float:
    """``"8/255"`` or ``"0.1"`` -> a float in data units; a one-line error otherwise."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise EbmbenchError(f"epsilon must be a number or a fraction such as 8/255, not {text!r}") from None
    if value < 0:
        raise EbmbenchError(f"epsilon must be >= 0, not {text!r}")
    return value


@dataclass(frozen=True)
class AttackSpec:
    """One attack setting: norm, radius, PGD steps and step size, random restarts, EOT draws per step."""

    norm: Norm
    eps: float
    steps: int
    step_size: float
    restarts: int = 1
    eot: int = 1
    kind: Literal["pgd", "autoattack", "square"] = "pgd"  # square: ``steps`` is its query budget


def make_attack(module: nn.Module, spec: AttackSpec, num_classes: int, seed: int, stochastic: bool):
    """The torchattacks attack for ``spec`` on ``module``."""
    if spec.kind == "square":  # gradient-free (Andriushchenko et al. 2020): no gradient to mask
        return torchattacks.Square(module, norm="Linf" if spec.norm == "linf" else "L2", eps=spec.eps,
                                   n_queries=spec.steps, n_restarts=1, loss="margin", seed=seed)
    if spec.kind == "autoattack":
        version = "rand" if stochastic else "standard"
        return torchattacks.AutoAttack(module, norm="Linf" if spec.norm == "linf" else "L2", eps=spec.eps,
                                       version=version, n_classes=num_classes, seed=seed)
    return make_pgd(module, spec.norm, spec.eps, spec.steps, spec.step_size, spec.eot)


def attack_batches(module: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec, num_classes: int,
                   seed: int, stochastic: bool, batch_size: int, device: torch.device) -> list[torch.Tensor]:
    """Adversarial examples for every restart (a list of tensors shaped like ``x``, on the CPU).

    Batch k of restart r reseeds torch's global generator with ``attack_seed(seed, r, k)`` first, so a direct
    torchattacks call after ``torch.manual_seed(attack_seed(seed, r, k))`` on the same batch gives the same
    examples, and batches can be shared out over processes (``ebmbench.distributed``) without changing them.
    """
    if spec.eps == 0 and spec.kind in ("autoattack", "square"):
        return [x.clone() for _ in range(spec.restarts)]
    attack = make_attack(module, spec, num_classes, seed, stochastic)
    n_batches = (len(x) + batch_size - 1) // batch_size
    out = []
    for r in range(spec.restarts):
        def compute(k: int, r: int = r) -> torch.Tensor:
            torch.manual_seed(attack_seed(seed, r, k))
            part = slice(k * batch_size, (k + 1) * batch_size)
            return attack(x[part].to(device), y[part].to(device)).detach().cpu()

        out.append(torch.cat(distributed.map_batches(n_batches, compute)))
    return out


def attack_seed(seed: int, restart: int, batch: int) -> int:
    """The seed of restart ``restart`` on global batch ``batch`` (random starts, stochastic views' noise)."""
    return seeds.derive(seed, "attack", restart, batch)


def lp_distance(a: torch.Tensor, b: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-example L∞ or L2 distance (for checks that adversarial examples stay in their ball)."""
    d = (a - b).flatten(1)
    return d.abs().amax(dim=1) if norm == "linf" else d.norm(dim=1)
