"""Evaluating a classifier view on (adversarial) images, over several draws of a stochastic defense's noise.

Draw d of an evaluation always uses the same noise (a generator seeded from the run seed and d, restarted for
every pass over the data), so clean and attacked images, and different threat models, are compared on paired
noise: at epsilon 0 the attacked accuracy equals the clean accuracy exactly, and differences between threat
models are not blurred by the sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ebmbench import distributed, seeds
from ebmbench.intervals import wilson
from ebmbench.sampler import make_generator


@dataclass(frozen=True)
class Accuracy:
    """Accuracy over examples and draws: ``correct`` is (draws, n) booleans, robust over every restart."""

    correct: torch.Tensor

    @property
    def draws(self) -> int:
        return int(self.correct.shape[0])

    @property
    def n(self) -> int:
        return int(self.correct.shape[1])

    @property
    def value(self) -> float:
        return self.correct.float().mean().item()

    @property
    def per_draw(self) -> list[float]:
        return self.correct.float().mean(dim=1).tolist()

    @property
    def draw_std(self) -> float:
        """The spread of the accuracy from one draw of the defense's noise to the next."""
        return self.correct.float().mean(dim=1).std().item() if self.draws > 1 else 0.0

    def ci(self) -> tuple[float, float]:
        """The Wilson 95% interval over the ``n`` examples (each scored by its mean over draws): it never
        collapses at 0 or n correct, unlike the normal interval."""
        return wilson(self.correct.double().mean(dim=0).sum().item(), self.n)


def paired_tolerance(a: Accuracy, b: Accuracy, z: float = 1.96) -> float:
    """How far two accuracies on the same examples may differ by noise: z standard errors of the paired
    per-example difference (test-set sampling, attack restarts and draws of the defense together)."""
    diff = a.correct.float().mean(dim=0) - b.correct.float().mean(dim=0)
    return z * diff.std().item() / math.sqrt(len(diff)) if len(diff) > 1 else 0.0


def paired_gain(a: Accuracy, b: Accuracy) -> tuple[float, tuple[float, float]]:
    """``a - b`` on the same examples and draws, with the Student-t 95% interval of the mean per-example
    difference (each example's correctness averaged over draws first)."""
    from ebmbench.intervals import t_interval

    diff = (a.correct.double().mean(dim=0) - b.correct.double().mean(dim=0)).tolist()
    mean, low, high = t_interval(diff)
    return mean, (low, high)


@torch.no_grad()
def predict(view: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device,
            seed: int | None = None) -> torch.Tensor:
    """Predicted labels of ``view`` for ``x`` in batches (CPU tensor). A stochastic view draws the noise of
    batch k from a generator seeded by ``batch_seed(seed, k)``, so batches can go to different processes."""
    view.eval()
    n_batches = (len(x) + batch_size - 1) // batch_size

    def compute(k: int) -> torch.Tensor:
        drawn = view if seed is None else view.with_generator(make_generator(batch_seed(seed, k), device))
        return drawn(x[k * batch_size:(k + 1) * batch_size].to(device)).argmax(1).cpu()

    return torch.cat(distributed.map_batches(n_batches, compute))


def evaluate(view: nn.Module, advs: list[torch.Tensor], y: torch.Tensor, draws: int, seed: int, batch_size: int,
             device: torch.device) -> Accuracy:
    """Correctness of ``view`` on every restart's examples; an example counts per draw only if it survives all
    restarts. Deterministic views are evaluated once whatever ``draws`` says."""
    stochastic = getattr(view, "stochastic", False)
    rows = []
    for d in range(draws if stochastic else 1):
        ok = torch.ones(len(y), dtype=torch.bool)
        for adv in advs:
            ok &= predict(view, adv, batch_size, device, draw_seed(seed, d) if stochastic else None) == y
        rows.append(ok)
    return Accuracy(torch.stack(rows))


def draw_seed(seed: int, draw: int) -> int:
    """The evaluation noise seed of draw ``draw`` (kept apart from the attack seeds)."""
    return seeds.derive(seed, "draw", draw)


def batch_seed(seed: int, batch: int) -> int:
    """The noise seed of global batch ``batch`` under a draw's seed: the same for every restart and threat
    model, so all are compared on paired noise."""
    return seeds.derive(seed, "batch", batch)
