"""Suite ``mcmc``: do the model's Langevin chains mix?

Chains are run with the shared sampler under the quality suite's protocols: ``noise`` runs ``steps`` steps from
uniform noise; ``buffer`` follows one chain of the paper's replay-buffer protocol through all its passes,
``steps * (1 + rounds)`` steps, without restarts (a restart would cut the chain). A conditional model gets
``chains`` chains for each of its first ``labels`` labels (all by default), each sampling E(x, y); an
unconditional one gets ``chains`` chains. Every chain starts from its own seeded uniform-noise image, so the
chains of one label differ only by their seeds: split R-hat across them asks whether they reached the same
distribution.

Traced per chain (see ``chains``): the energy, projections on ``projections`` fixed random unit vectors and
the MALA log acceptance of every step. Per label (see ``diagnostics``): the burn-in (MSER on the mean energy
trace), the ESS per chain of the energy and of each projection after the burn-in (Geyer's initial monotone
sequence), split R-hat across the label's chains after the burn-in, the mean MALA acceptance. The records give
the summaries over labels (``eval_set`` ``all``: mean ESS and acceptance over chains, the largest R-hat and
burn-in over labels); ``groups.csv`` has every label's numbers, ``traces.npz`` the raw traces, and
``energy_trace.png`` the energy traces with the burn-in marked.

Poor mixing is reported, never hidden: ``sanity_*`` records count the labels failing each check (R-hat above
``RHAT_LIMIT``, burn-in reaching half the chain, energy ESS per chain below ``MIN_ESS``, mean MALA acceptance
below ``MIN_ACCEPT``), with the same warnings in ``warnings.json`` and as Python warnings.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from ebmbench.atomic import atomic_path, atomic_write_text
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Capability
from ebmbench.options import check_ranges, option
from ebmbench.records import Record
from ebmbench.sampler import LangevinConfig, LangevinOptions, make_generator
from ebmbench.seeds import mix
from ebmbench.suite import Suite, SuiteContext
from ebmbench.suites.mcmc.chains import Traces, implied_temperature, random_directions, run_traced
from ebmbench.suites.mcmc.chains import chain_starts as starts_for
from ebmbench.suites.mcmc.diagnostics import ess_per_chain, mser_burn_in, split_rhat
from ebmbench.suites.mcmc.plots import energy_traces
from ebmbench.suites.mcmc.spec import CHECKS, SPEC

RHAT_LIMIT = 1.1  # the classic split R-hat threshold (Gelman et al. 2013)
MIN_ESS = 10.0  # energy ESS per chain below this: the chain is nearly stuck
MIN_ACCEPT = 0.05  # mean MALA acceptance below this: the discretisation is far from exact


class MCMCWarning(UserWarning):
    """Langevin chains that fail a mixing check."""


@dataclass(frozen=True)
class MCMCOptions:
    """Options of the mcmc suite (``--set key=value``; each field's help says what it does)."""

    chains: int = option(4, help="chains per label, each from its own seed (split R-hat compares them; at least 2)")
    labels: int | None = option(None, help="conditional models: how many labels get chains, the first ones "
                                           "(none: all)")
    protocol: Literal["noise", "buffer"] = option("noise", help="the quality suite's protocols: noise runs "
                                                                "`steps` steps; buffer follows one chain through "
                                                                "steps * (1 + rounds) steps, without restarts")
    steps: int = option(60, help="Langevin steps per chain run (at least 8)")
    rounds: int = option(10, help="buffer protocol: passes after the first run")
    sampler: LangevinOptions = option(factory=LangevinOptions, help="the Langevin update")
    projections: int = option(3, help="fixed random unit directions whose projections of x are traced")
    mala_temperature: str = option("implied", help="target temperature of the MALA diagnostic: implied "
                                                   "(noise^2 / (2 step_size)) or a positive number")
    batch_size: int = option(128, help="chains per sampler call")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("labels", "projections", "batch_size"), non_negative=("rounds",))
        if self.chains < 2:
            raise ValueError("chains must be at least 2 (split R-hat compares chains)")
        if self.steps < 8:
            raise ValueError("steps must be at least 8 (the diagnostics need a trace)")
        if self.sampler.noise <= 0:
            raise ValueError("sampler.noise must be positive (the MALA diagnostic divides by it)")
        if self.mala_temperature != "implied":
            try:
                ok = float(self.mala_temperature) > 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError("mala_temperature must be 'implied' or a positive number")

    def chain(self, value_range: tuple[float, float]) -> LangevinConfig:
        length = self.steps * (1 + self.rounds) if self.protocol == "buffer" else self.steps
        return self.sampler.chain(length, clamp=tuple(value_range))


@dataclass(frozen=True)
class Plan:
    """The chains to run: one label per group (None: unconditional), the sampler, the MALA temperature."""

    groups: tuple[int | None, ...]
    sampler: LangevinConfig
    temperature: float


class MCMCSuite(Suite):
    """ESS, split R-hat, burn-in and MALA acceptance of the model's Langevin chains."""

    spec = SPEC
    requires = (Capability.ENERGY, Capability.SAMPLE)
    Options = MCMCOptions
    quickstart = ("chains=4", "steps=200")

    def prepare(self, ctx: SuiteContext) -> Plan:
        o, info = self.options, ctx.model.info
        if info.conditional:
            if info.num_classes < 1:
                raise EbmbenchError("a conditional model must declare its number of classes")
            if o.labels is not None and o.labels > info.num_classes:
                raise EbmbenchError(f"labels={o.labels} but the model has {info.num_classes} classes")
            groups: tuple[int | None, ...] = tuple(range(o.labels or info.num_classes))
        else:
            groups = (None,)
        sampler = o.chain(info.value_range)
        temperature = implied_temperature(sampler) if o.mala_temperature == "implied" else float(o.mala_temperature)
        return Plan(groups, sampler, temperature)

    def run(self, ctx: SuiteContext, plan: Plan) -> None:
        if ctx.is_done("chains") and ctx.run.file("energy_trace.png").exists():
            return
        traces, labels = self._chains(ctx, plan)
        groups = [self._group(traces, labels == (-1 if g is None else g), g) for g in plan.groups]
        found = _checks(groups)
        records = self._records(ctx, plan, groups, found)
        self._artifacts(ctx, plan, traces, labels, groups, found)
        if not ctx.is_done("chains"):
            ctx.commit("chains", records)
        for check in CHECKS:  # one warning per failed check; warnings.json has every label's
            failed = [w for w in found if w["check"] == check]
            if failed:
                where = failed[0]["group"] if len(failed) == 1 else f"{len(failed)} of {len(groups)} labels"
                warnings.warn(f"mcmc ({check}) {where}: {failed[0]['message']}", MCMCWarning, stacklevel=2)

    # --- chains -----------------------------------------------------------------------------------------------
    def _chains(self, ctx: SuiteContext, plan: Plan) -> tuple[Traces, np.ndarray]:
        o, info = self.options, ctx.model.info
        labels = np.repeat([-1 if g is None else g for g in plan.groups], o.chains)
        seeds = [_chain_seed(ctx.seed, int(label), i % o.chains) for i, label in enumerate(labels)]
        directions = random_directions(o.projections, tuple(info.input_shape), seed=_chain_seed(ctx.seed, -2, 0))
        gen = make_generator(_chain_seed(ctx.seed, -3, 0), ctx.device)
        parts = []
        for start in range(0, len(labels), o.batch_size):
            end = min(start + o.batch_size, len(labels))
            x0 = starts_for(end - start, tuple(info.input_shape), tuple(info.value_range), seeds[start:end],
                            ctx.device)
            y = torch.as_tensor(labels[start:end], device=ctx.device) if info.conditional else None
            parts.append(run_traced(ctx.model, plan.sampler, y, x0, directions, gen, plan.temperature))
        return Traces.concat(parts), labels

    @staticmethod
    def _group(traces: Traces, members: np.ndarray, label: int | None) -> dict[str, Any]:
        """Every diagnostic of one label's chains."""
        energy = traces.energy[members]
        burn = mser_burn_in(energy.mean(axis=0))
        kept = energy[:, burn:]
        proj = traces.projections[members][:, :, burn:]
        ess_e = ess_per_chain(kept)
        ess_p = np.array([ess_per_chain(proj[:, k]) for k in range(proj.shape[1])])  # projections x chains
        accept = np.exp(traces.log_accept[members]).mean(axis=1)
        return {"group": "all" if label is None else f"label:{label}", "label": label, "chains": int(members.sum()),
                "length": energy.shape[1], "burn_in": burn, "draws": kept.shape[1],
                "ess_energy": ess_e, "ess_projection": ess_p, "rhat_energy": split_rhat(kept),
                "rhat_projection": max(split_rhat(proj[:, k]) for k in range(proj.shape[1])),
                "mala_acceptance": accept}

    # --- results ----------------------------------------------------------------------------------------------
    def _records(self, ctx: SuiteContext, plan: Plan, groups: list[dict[str, Any]],
                 found: list[dict[str, Any]]) -> list[Record]:
        o = self.options
        setting = {"protocol": o.protocol, "chain_steps": plan.sampler.steps, "chains_per_label": o.chains,
                   "labels": len(plan.groups), "step_size": o.sampler.step_size, "noise": o.sampler.noise,
                   "grad_clip": o.sampler.grad_clip, "projections": o.projections}
        ess_e = np.concatenate([g["ess_energy"] for g in groups])
        ess_p = np.concatenate([g["ess_projection"].ravel() for g in groups])
        accept = np.concatenate([g["mala_acceptance"] for g in groups])
        worst = max(groups, key=lambda g: g["rhat_energy"])
        out = [
            self.record(ctx, "rhat_energy", worst["rhat_energy"], "all", n=len(groups),
                        aggregate="max over labels", worst=worst["group"], **setting),
            self.record(ctx, "rhat_projection", max(g["rhat_projection"] for g in groups), "all", n=len(groups),
                        aggregate="max over labels and projections", **setting),
            self.record(ctx, "ess_energy", float(ess_e.mean()), "all", ci=_t_interval(ess_e),
                        n=len(ess_e), min=float(ess_e.min()), estimator="geyer-initial-monotone",
                        draws_min=min(g["draws"] for g in groups), **setting),
            self.record(ctx, "ess_projection", float(ess_p.mean()), "all",
                        ci=_t_interval(ess_p), n=len(ess_p), min=float(ess_p.min()),
                        estimator="geyer-initial-monotone", **setting),
            self.record(ctx, "mala_acceptance", float(accept.mean()), "all",
                        ci=_t_interval(accept), n=len(accept), temperature=plan.temperature, **setting),
            self.record(ctx, "burn_in", max(g["burn_in"] for g in groups), "all", n=len(groups),
                        aggregate="max over labels", estimator="mser", **setting),
        ]
        for check in CHECKS:
            failed = sum(w["check"] == check for w in found)
            out.append(self.record(ctx, f"sanity_{check}", failed, "all", n=len(groups),
                                   passed=failed == 0))
        return out

    def _artifacts(self, ctx: SuiteContext, plan: Plan, traces: Traces, labels: np.ndarray,
                   groups: list[dict[str, Any]], found: list[dict[str, Any]]) -> None:
        rows = ["group,chains,length,burn_in,draws,ess_energy_mean,ess_energy_min,ess_projection_mean,"
                "rhat_energy,rhat_projection,mala_acceptance"]
        for g in groups:
            rows.append(f"{g['group']},{g['chains']},{g['length']},{g['burn_in']},{g['draws']},"
                        f"{g['ess_energy'].mean():.6g},{g['ess_energy'].min():.6g},{g['ess_projection'].mean():.6g},"
                        f"{g['rhat_energy']:.6g},{g['rhat_projection']:.6g},{g['mala_acceptance'].mean():.6g}")
        atomic_write_text(ctx.run.file("groups.csv"), "\n".join(rows) + "\n")
        with atomic_path(ctx.run.file("traces.npz")) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, energy=traces.energy.astype(np.float32), labels=labels,
                                projections=traces.projections.astype(np.float32),
                                log_accept=traces.log_accept.astype(np.float32))
        atomic_write_text(ctx.run.file("warnings.json"), json.dumps(found, indent=2) + "\n")
        energy_traces(traces.energy, labels, {g["label"] if g["label"] is not None else -1: g["burn_in"]
                                              for g in groups},
                      ctx.run.file("energy_trace.png"), title=f"{ctx.model_name} on {ctx.dataset}: "
                      f"{self.options.protocol} protocol, {plan.sampler.steps} steps")


def _checks(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mixing warnings, one per (label, failed check)."""
    found = []
    for g in groups:
        rhat = max(g["rhat_energy"], g["rhat_projection"])
        if not rhat <= RHAT_LIMIT:
            found.append({"check": "rhat", "group": g["group"], "value": rhat,
                          "message": f"split R-hat {rhat:.3f} > {RHAT_LIMIT}: chains from different seeds "
                                     "disagree (they have not mixed)"})
        if g["burn_in"] >= g["length"] // 2:
            found.append({"check": "burn_in", "group": g["group"], "value": g["burn_in"],
                          "message": f"burn-in reaches half the chain ({g['burn_in']} of {g['length']} steps): "
                                     "the energy is still drifting; run longer chains"})
        if g["ess_energy"].min() < MIN_ESS:
            found.append({"check": "ess", "group": g["group"], "value": float(g["ess_energy"].min()),
                          "message": f"a chain's energy ESS is {g['ess_energy'].min():.3g} < {MIN_ESS:g} of "
                                     f"{g['draws']} draws: it barely moves"})
        if g["mala_acceptance"].mean() < MIN_ACCEPT:
            found.append({"check": "mala", "group": g["group"], "value": float(g["mala_acceptance"].mean()),
                          "message": f"mean MALA acceptance {g['mala_acceptance'].mean():.3g} < {MIN_ACCEPT:g}: "
                                     "the step is far too large for an exact sampler of the implied target"})
    return found


def _chain_seed(seed: int, label: int, chain: int) -> int:
    """A distinct seed per (run seed, label, chain)."""
    return mix(seed, (label + 3) * 10_007 + chain) % (2**63)


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2 or x.std() == 0:
        return mean, mean
    low, high = stats.t.interval(0.95, len(x) - 1, loc=mean, scale=stats.sem(x))
    return float(low), float(high)
