"""Suite ``energy``: energies on the train split, the test split and noise, and the train/test gap.

The reference paper's check for overfitting: a model that memorises its training data gives the train split
markedly lower energy than held-out data. Noise should sit far above both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ebmbench.models.base import Capability
from ebmbench.options import check_ranges, option
from ebmbench.plots import save_histograms
from ebmbench.scoring import check_finite, free_energy, score_set
from ebmbench.suite import Suite, SuiteContext

from .spec import SPEC


@dataclass(frozen=True)
class EnergyOptions:
    """Options of the energy suite (``--set key=value``)."""

    noise_n: int = option(1000, help="uniform-noise images scored")
    batch_size: int = option(256, help="images per forward pass")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("noise_n", "batch_size"))


def _mean_ci(values: torch.Tensor) -> tuple[float, tuple[float, float]]:
    """The mean with its Student-t 95% interval."""
    from scipy import stats

    x = values.double().numpy()
    mean = float(x.mean())
    if len(x) < 2:
        return mean, (mean, mean)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=mean, scale=stats.sem(x))
    return mean, (float(low), float(high))


class EnergySuite(Suite):
    """Mean and spread of E(x) on train, test and uniform noise; the test-minus-train gap."""

    spec = SPEC
    requires = (Capability.ENERGY,)
    Options = EnergyOptions

    def run(self, ctx: SuiteContext, plan: None) -> None:
        plot = ctx.run.file("energy_hist.png")
        if ctx.is_done("energies") and plot.exists():
            return  # a resumed, finished run: nothing to recompute
        sets = {"train": ctx.load("train"), "test": ctx.load("test"),
                "uniform": ctx.load("test", "uniform", n=self.options.noise_n)}
        energies = {}
        for name, data in sets.items():
            values = score_set(lambda x: free_energy(ctx.model, x), data, ctx.device, self.options.batch_size,
                               desc=f"energy {name}", progress=ctx.progress)
            energies[name] = check_finite(values, f"energies on {name}")
        if not ctx.is_done("energies"):
            ctx.commit("energies", self._records(ctx, energies))
        save_histograms({k: v.numpy() for k, v in energies.items()}, plot,
                        xlabel="energy E(x)", title=f"{ctx.model_name} on {ctx.dataset}")

    def _records(self, ctx: SuiteContext, energies: dict[str, torch.Tensor]) -> list:
        records = []
        for name, values in energies.items():
            mean, ci = _mean_ci(values)
            records.append(self.record(ctx, "energy_mean", mean, name, ci=ci, n=len(values)))
            records.append(self.record(ctx, "energy_std", values.std().item(), name, n=len(values)))
        gap, gap_ci = _diff_ci(energies["test"], energies["train"])
        records.append(self.record(ctx, "train_test_gap", gap, "test-train", ci=gap_ci, n=len(energies["test"])))
        margin, margin_ci = _diff_ci(energies["uniform"], energies["test"])
        records.append(self.record(ctx, "noise_margin", margin, "uniform-test", ci=margin_ci,
                                   n=len(energies["uniform"])))
        return records


def _diff_ci(a: torch.Tensor, b: torch.Tensor) -> tuple[float, tuple[float, float]]:
    """Difference of means with Welch's 95% interval (unequal variances, Welch-Satterthwaite degrees of
    freedom)."""
    from scipy import stats

    x, y = a.double().numpy(), b.double().numpy()
    diff = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return diff, (diff, diff)
    ci = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    return diff, (float(ci.low), float(ci.high))
