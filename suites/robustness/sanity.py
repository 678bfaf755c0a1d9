"""Sanity checks on robustness numbers: the signs that an evaluation cannot be trusted (Carlini et al. 2019's
checklist, Athalye et al. 2018's masked gradients), each a warning with the numbers that raised it.

- ``eps0_clean``: accuracy at epsilon 0 equals the clean accuracy.
- ``monotone``: accuracy does not rise with epsilon beyond noise.
- ``adaptive_vs_transfer``: an adaptive attack on a purification defense is not weaker than the transfer attack
  it is meant to improve on (else the adaptive attack is broken or under-powered).
- ``adaptive_equals_transfer``: an adaptive attack whose per-example outcomes (every example, every draw) are
  identical to the transfer attack's at epsilon > 0, while some examples survive: the adaptive attack found
  nothing the transfer attack had not (the purification barely moves the input, or the attack is
  under-powered), so its agreement says nothing about the defense.
- ``masked_gradients``: no attack transferred from another model, and no gradient-free attack (Square), beats
  the best white-box attack on the same classifier view.

"Beyond noise" means by more than 1.96 paired standard errors over examples (and draws of the defense); the
epsilon-0 check is exact, since clean and attacked images are evaluated on the same draws.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch

from ebmbench.suites.robustness.eval import Accuracy, paired_tolerance
from ebmbench.suites.robustness.spec import CHECKS

TRANSFER = "transfer-from-classifier"
ADAPTIVE = ("bpda+eot", "full", "autoattack")
WHITE_BOX = ("white-box", "bpda+eot", "full", "autoattack")
GRADIENT_FREE = ("square",)
EXACT = 1e-9


@dataclass(frozen=True)
class Outcome:
    """One measured robust accuracy: which classifier view, which threat model, which ball."""

    model: str
    defense: str
    threat: str
    norm: str
    eps: float
    eps_label: str
    accuracy: Accuracy

    @property
    def view(self) -> tuple[str, str]:
        return self.model, self.defense


def run_checks(outcomes: Iterable[Outcome], clean: dict[tuple[str, str], Accuracy]
               ) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Number of comparisons per check and the warnings raised (dicts ready for JSON)."""
    outcomes = list(outcomes)
    counts: dict[str, int] = dict.fromkeys(CHECKS, 0)
    warnings: list[dict[str, Any]] = []
    for check, fn in (("eps0_clean", _eps0), ("monotone", _monotone), ("adaptive_vs_transfer", _adaptive),
                      ("adaptive_equals_transfer", _adaptive), ("masked_gradients", _masked)):
        for high, low, message in fn(outcomes, clean):
            counts[check] += 1
            if _fires(check, high.accuracy, low):
                warnings.append(_warning(check, high, low, _identical_message(low) if check ==
                                         "adaptive_equals_transfer" else message))
    return counts, warnings


def _fires(check: str, high: Accuracy, low: Accuracy) -> bool:
    diff = high.value - low.value
    if check == "eps0_clean":
        return abs(diff) > EXACT
    if check == "adaptive_equals_transfer":
        return high.correct.shape == low.correct.shape and bool(high.correct.any()) and bool(
            torch.equal(high.correct, low.correct))
    return diff > _tolerance(high, low)


def _identical_message(transfer: Accuracy) -> str:
    return (f"the adaptive attack's per-example outcomes equal the transfer attack's ({TRANSFER}: "
            f"{transfer.value:.4f}, every example and draw): it is under-powered or the purification barely "
            "moves the input; its agreement is no evidence of robustness")


def _tolerance(a: Accuracy, b: Accuracy) -> float:
    return max(paired_tolerance(a, b), EXACT) if a.n == b.n else EXACT


def _warning(check: str, high: Outcome, low: Accuracy, message: str) -> dict[str, Any]:
    return {"check": check, "model": high.model, "defense": high.defense, "threat_model": high.threat,
            "norm": high.norm, "epsilon": high.eps, "epsilon_label": high.eps_label,
            "accuracy": high.accuracy.value, "reference_accuracy": low.value, "message": message}


def _eps0(outcomes: list[Outcome], clean: dict[tuple[str, str], Accuracy]):
    """At epsilon 0 the attacked accuracy must equal the clean one exactly (the defense's noise is paired)."""
    for o in outcomes:
        if o.eps == 0 and o.view in clean:
            ref = clean[o.view]
            yield o, ref, (f"accuracy at epsilon 0 differs from the clean accuracy {ref.value:.4f}: the evaluation "
                           "is inconsistent (model mode, preprocessing or the defense's randomness)")


def _monotone(outcomes: list[Outcome], clean: dict[tuple[str, str], Accuracy]):
    series: dict[tuple, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        series[(o.model, o.defense, o.threat, o.norm)].append(o)
    for items in series.values():
        items.sort(key=lambda o: o.eps)
        for small, large in pairwise(items):
            yield large, small.accuracy, (f"accuracy rises from {small.accuracy.value:.4f} at epsilon "
                                          f"{small.eps_label}: the attack is not converging (more steps or restarts)")


def _by_ball(outcomes: list[Outcome]) -> dict[tuple, dict[str, Outcome]]:
    groups: dict[tuple, dict[str, Outcome]] = defaultdict(dict)
    for o in outcomes:
        groups[(o.model, o.defense, o.norm, o.eps)][o.threat] = o
    return groups


def _adaptive(outcomes: list[Outcome], clean: dict[tuple[str, str], Accuracy]):
    for (_model, _defense, _norm, eps), threats in _by_ball(outcomes).items():
        if TRANSFER not in threats or eps == 0:
            continue
        for name in ADAPTIVE:
            if name in threats:
                yield threats[name], threats[TRANSFER].accuracy, (
                    f"the adaptive attack is weaker than the transfer attack ({TRANSFER}: "
                    f"{threats[TRANSFER].accuracy.value:.4f}); it is broken or under-powered (more steps, EOT draws "
                    "or restarts); trust the lower number")


def _masked(outcomes: list[Outcome], clean: dict[tuple[str, str], Accuracy]):
    for threats in _by_ball(outcomes).values():
        white = [o for name, o in threats.items() if name in WHITE_BOX]
        if not white:
            continue
        best = min(white, key=lambda o: o.accuracy.value)
        for name, o in threats.items():
            if name.startswith("transfer-from:") or name in GRADIENT_FREE:
                kind = "a gradient-free" if name in GRADIENT_FREE else "a transfer"
                yield best, o.accuracy, (f"{kind} attack ({name}: {o.accuracy.value:.4f}) beats the best "
                                         f"white-box attack ({best.threat}): a sign of masked gradients")
