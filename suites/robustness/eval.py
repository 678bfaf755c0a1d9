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

from ebmbench.sampler import make_generator
from ebmbench.seeds import mix


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
        """A normal 95% interval over examples (each scored by its mean over draws), clipped to [0, 1]."""
        per_example = self.correct.float().mean(dim=0)
        half = 1.96 * per_example.std().item() / math.sqrt(self.n) if self.n > 1 else 0.0
        return max(0.0, self.value - half), min(1.0, self.value + half)


def paired_tolerance(a: Accuracy, b: Accuracy, z: float = 1.96) -> float:
    """How far two accuracies on the same examples may differ by noise: z standard errors of the paired
    per-example difference (test-set sampling, attack restarts and draws of the defense together)."""
    diff = a.correct.float().mean(dim=0) - b.correct.float().mean(dim=0)
    return z * diff.std().item() / math.sqrt(len(diff)) if len(diff) > 1 else 0.0


@torch.no_grad()
def predict(view: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Predicted labels of ``view`` for ``x`` in batches (CPU tensor)."""
    view.eval()
    return torch.cat([view(xb.to(device)).argmax(1).cpu() for xb in x.split(batch_size)])


def evaluate(view: nn.Module, advs: list[torch.Tensor], y: torch.Tensor, draws: int, seed: int, batch_size: int,
             device: torch.device) -> Accuracy:
    """Correctness of ``view`` on every restart's examples; an example counts per draw only if it survives all
    restarts. Deterministic views are evaluated once whatever ``draws`` says."""
    stochastic = getattr(view, "stochastic", False)
    rows = []
    for d in range(draws if stochastic else 1):
        ok = torch.ones(len(y), dtype=torch.bool)
        for adv in advs:
            drawn = view.with_generator(make_generator(draw_seed(seed, d), device)) if stochastic else view
            ok &= predict(drawn, adv, batch_size, device) == y
        rows.append(ok)
    return Accuracy(torch.stack(rows))


def draw_seed(seed: int, draw: int) -> int:
    """The evaluation noise seed of draw ``draw`` (kept apart from the attack seeds)."""
    return mix(seed + 1, draw)
