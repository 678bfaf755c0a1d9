"""OOD scores: each maps (model, images) to one number per image, higher = more in-distribution.

A score applies to a model when the model has what the score needs (capabilities, and for the label-wise
energy scores a conditional model); scores never look at a model's name or family. ``paper`` picks, for each
model, the score the reference comparison uses: the minimum energy over labels for a conditional EBM (Du &
Mordatch's choice), -E(x) for an unconditional one, log p(x) for likelihood models and the maximum softmax
probability (Hendrycks & Gimpel 2017) for classifiers. The energy score of a classifier, logsumexp of its
logits (Liu et al. 2020), is left to models without label-wise energies: for a conditional EBM (logits
-E(x, y)) it is exactly ``logsumexp_energy``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Capability, Model
from ebmbench.scoring import marginal_energy
from ebmbench.suggest import did_you_mean


class Outputs:
    """One batch's model outputs, each computed at most once however many scores use it (a conditional EBM's
    energies for every label feed four scores)."""

    def __init__(self, model: Model, x: torch.Tensor) -> None:
        self.model, self.x = model, x
        self._cache: dict[str, torch.Tensor] = {}

    def _get(self, key: str, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def energy(self) -> torch.Tensor:
        return self._get("energy", lambda: self.model.energy(self.x))

    def energies(self) -> torch.Tensor:
        """E(x, y) for every label, (batch, classes)."""
        return self._get("energies", lambda: self.model.energy_all_classes(self.x))

    def logits(self) -> torch.Tensor:
        return self._get("logits", lambda: self.model.logits(self.x))

    def log_prob(self) -> torch.Tensor:
        return self._get("log_prob", lambda: self.model.log_prob(self.x))

    def free_energy_grad_norm(self) -> torch.Tensor:
        """||d E(x) / dx|| of the free energy; the forward pass it needs also fills the energy outputs, so a
        batch scored with the gradient norm and energy scores runs the network forward once."""
        return self._get("grad_norm", self._grad_norm)

    def _grad_norm(self) -> torch.Tensor:
        with torch.enable_grad():
            x = self.x.detach().requires_grad_(True)
            if self.model.info.conditional:
                energies = self.model.energy_all_classes(x)
                self._cache.setdefault("energies", energies.detach())
                free = marginal_energy(energies)
            else:
                free = self.model.energy(x)
                self._cache.setdefault("energy", free.detach())
            (grad,) = torch.autograd.grad(free.sum(), x)
        return grad.flatten(1).norm(dim=1)


@dataclass(frozen=True)
class Score:
    """A named score: its label in tables, when it applies, and the function of a batch's outputs."""

    name: str
    label: str
    applies: Callable[[Model], bool]
    fn: Callable[[Outputs], torch.Tensor]


def _conditional_energy(m: Model) -> bool:
    return m.has(Capability.ENERGY) and m.info.conditional


def _neg_grad_norm(out: Outputs) -> torch.Tensor:
    """-||d E(x) / dx|| of the (free) energy: the energy surface is flat near the data (Grathwohl et al. 2019)."""
    return -out.free_energy_grad_norm()


SCORES: dict[str, Score] = {s.name: s for s in (
    Score("energy", "-E(x)", lambda m: m.has(Capability.ENERGY) and not m.info.conditional,
          lambda o: -o.energy()),
    Score("min_energy", "-min_y E(x,y)", _conditional_energy, lambda o: -o.energies().min(dim=1).values),
    Score("logsumexp_energy", "logsumexp_y -E(x,y)", _conditional_energy,
          lambda o: torch.logsumexp(-o.energies(), dim=1)),
    Score("grad_norm", "-‖∇ₓE(x)‖", lambda m: m.has(Capability.ENERGY), _neg_grad_norm),
    Score("log_prob", "log p(x)", lambda m: m.has(Capability.LOG_PROB), lambda o: o.log_prob()),
    Score("msp", "max softmax", lambda m: m.has(Capability.LOGITS),
          lambda o: torch.softmax(o.logits(), dim=1).max(dim=1).values),
    Score("logsumexp_logits", "logsumexp logits", lambda m: m.has(Capability.LOGITS) and not _conditional_energy(m),
          lambda o: torch.logsumexp(o.logits(), dim=1)),
)}
PAPER_ORDER = ("min_energy", "energy", "log_prob", "msp")
SELECTORS = ("paper", "all")


def check_names(names: tuple[str, ...]) -> None:
    """Refuse unknown score names with the closest valid one."""
    valid = [*SELECTORS, *SCORES]
    for name in names:
        if name not in valid:
            raise EbmbenchError(f"unknown OOD score {name!r}{did_you_mean(name, valid)} (valid: {', '.join(valid)})")
    if not names:
        raise EbmbenchError(f"give at least one OOD score (valid: {', '.join(valid)})")


def scores_for(model: Model, names: tuple[str, ...]) -> list[str]:
    """The scores to compute for ``model``: ``paper`` -> its paper score, ``all`` -> every applicable one,
    a score name -> that score if it applies. In registry order, without repeats."""
    wanted: set[str] = set()
    if "paper" in names:
        wanted.update(next(([n] for n in PAPER_ORDER if SCORES[n].applies(model)), []))
    if "all" in names:
        wanted.update(n for n, s in SCORES.items() if s.applies(model))
    wanted.update(n for n in names if n in SCORES and SCORES[n].applies(model))
    return [n for n in SCORES if n in wanted]


def describe(model: Model) -> str:
    """What a model offers, for error messages."""
    return ", ".join(sorted(c.value for c in model.capabilities)) or "nothing"


@torch.no_grad()
def score_batch(model: Model, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Every named score of one batch, sharing the model's outputs between scores."""
    outputs = Outputs(model, x)
    first = sorted(names, key=lambda name: name != "grad_norm")  # its forward pass serves the energy scores too
    values = {name: SCORES[name].fn(outputs) for name in first}
    return {name: values[name] for name in names}
