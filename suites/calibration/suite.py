"""Suite ``calibration``: are the classifier views' probabilities calibrated (JEM's claim, Grathwohl et al. 2019)?

For every classifier view (see ``views``: the model's own logits, its Langevin-purified logits, every baseline
with logits, the default digits classifiers when no ``--baseline`` is given) on the test split: ECE and MCE with
``bins`` equal-width confidence bins (stated in every record), NLL, the multiclass Brier score, accuracy and mean
confidence, each with a seeded bootstrap 95% interval (see ``metrics``). The run directory also holds
``logits/MODEL__VIEW.npz`` (logits and labels of every test image: everything else is recomputable from them)
and ``reliability.png`` (one reliability diagram per view).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ebmbench.atomic import atomic_path
from ebmbench.baselines import Recipe, default_baselines
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Capability, Model
from ebmbench.options import check_ranges, option
from ebmbench.records import Record
from ebmbench.rundir import safe_file_name
from ebmbench.sampler import LangevinOptions, make_generator
from ebmbench.seeds import keyed
from ebmbench.suite import Suite, SuiteContext
from ebmbench.suites.calibration.metrics import Calibration, calibration
from ebmbench.suites.calibration.plots import reliability_diagrams
from ebmbench.suites.calibration.spec import SPEC
from ebmbench.suites.calibration.views import Purification, View, classifier_views, default_radius

BINNING = "equal-width, right-closed"
# Default baselines: the robustness suite's standard and PGD-trained classifiers (the same recipes, so the model
# cache serves both suites).
DEFAULT_BASELINES: tuple[Recipe, ...] = (
    Recipe("classifier", "classifier", {"width": 16, "iterations": 200, "batch_size": 64}),
    Recipe("classifier-pgd", "classifier", {"width": 16, "iterations": 200, "batch_size": 64,
                                            "adv_train": "linf:0.1", "adv_steps": 3}),
)


@dataclass(frozen=True)
class CalibrationOptions:
    """Options of the calibration suite (``--set key=value``; each field's help says what it does)."""

    n: int | None = option(None, help="test images, a seeded subset (none: all)")
    bins: int = option(15, help="equal-width confidence bins of ECE and MCE")
    bootstrap: int = option(1000, help="bootstrap resamples for the 95% intervals (0: none)")
    purify_steps: int = option(10, help="Langevin purification steps of the purified view (0: no purified view)")
    sampler: LangevinOptions = option(factory=LangevinOptions, help="the purification's Langevin update")
    purify_radius: str = option("auto", help="box around the input each step is clamped to: auto (8/255, or 0.1 "
                                             "under 32 pixels a side), a number such as 8/255, or none")
    purify_per_class: bool | None = option(None, help="one chain per label under E(x, y) (none: for conditional "
                                                      "models)")
    default_baselines: bool = option(True, help="a standard and a PGD-trained classifier, trained and cached for "
                                                "the digits when no --baseline is given")
    batch_size: int = option(100, help="images per batch")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("n", "bins", "batch_size"), non_negative=("bootstrap", "purify_steps"))


@dataclass(frozen=True)
class Plan:
    purification: Purification | None
    n: int


class CalibrationSuite(Suite):
    """ECE (stated binning), MCE, NLL, Brier, accuracy and confidence of every classifier view, with intervals."""

    spec = SPEC
    requires = (Capability.LOGITS,)
    Options = CalibrationOptions
    uses_baselines = True
    quickstart = ("purify_steps=3", "bootstrap=500")  # the robustness quickstart's purification

    def prepare(self, ctx: SuiteContext) -> Plan:
        info = ctx.model.info
        if info.num_classes < 2:
            raise EbmbenchError("the calibration suite needs a model that classifies (two or more classes)")
        for name, model in ctx.baselines.items():
            if model.has(Capability.LOGITS) and model.info.num_classes != info.num_classes:
                raise EbmbenchError(f"baseline {name!r} has {model.info.num_classes} classes, the model "
                                    f"{info.num_classes}")
        test_size = len(ctx.load("test"))
        return Plan(self._purification(ctx.model), min(self.options.n or test_size, test_size))

    def _purification(self, model: Model) -> Purification | None:
        o = self.options
        if o.purify_steps == 0:
            return None
        text = o.purify_radius.strip().lower()
        radius = default_radius(model.info.input_shape) if text == "auto" else None if text == "none" else \
            _radius(text)
        per_class = o.purify_per_class  # None: decided per model (conditional models get a chain per label)
        return Purification(steps=o.purify_steps, sampler=o.sampler, radius=radius, per_class=per_class)

    def run(self, ctx: SuiteContext, plan: Plan) -> None:
        models = {ctx.model_name: ctx.model, **ctx.baselines}
        defaults = default_baselines(ctx, DEFAULT_BASELINES, taken=list(models)) \
            if self.options.default_baselines else {}
        models.update({name: d.model for name, d in defaults.items()})
        provenance = {name: d.provenance() for name, d in defaults.items()}
        views, _ = classifier_views(models, plan.purification,
                                    make_generator(keyed(ctx.seed, "calibration", "purify"), ctx.device))
        x, y = ctx.load("test").tensors(plan.n, seed=ctx.seed)
        tables = {}
        for view in views:
            unit = f"{view.model}|{view.view}"
            path = ctx.run.file(f"logits/{safe_file_name(view.model, keep='-_.')}__{view.view}.npz")
            if not (ctx.is_done(unit) and path.exists()):
                logits = self._logits(ctx, view, x)
                with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                    np.savez_compressed(fh, logits=logits, labels=y.numpy())
            saved = np.load(path)
            result = calibration(saved["logits"], saved["labels"], self.options.bins, self.options.bootstrap,
                                 seed=ctx.seed)
            if not ctx.is_done(unit):
                ctx.commit(unit, self._records(ctx, view, result, plan, provenance.get(view.model)))
            tables[f"{view.model} [{view.view}]"] = (result.reliability, result.values["ece"])
        reliability_diagrams(tables, ctx.run.file("reliability.png"),
                             title=f"Reliability on {ctx.dataset} test ({plan.n} images, {self.options.bins} bins)")

    def _logits(self, ctx: SuiteContext, view: View, x: torch.Tensor) -> np.ndarray:
        out = []
        for start in range(0, len(x), self.options.batch_size):
            batch = x[start:start + self.options.batch_size].to(ctx.device)
            with torch.no_grad() if view.view == "plain" else torch.enable_grad():
                out.append(view.logits(batch).detach().double().cpu())
        logits = torch.cat(out).numpy()
        if not np.isfinite(logits).all():
            raise EbmbenchError(f"{view.model} [{view.view}] gave NaN or infinite logits; the model has diverged")
        return logits

    def _records(self, ctx: SuiteContext, view: View, result: Calibration, plan: Plan,
                 default: dict | None) -> list[Record]:
        extra = {"view": view.view, "bins": self.options.bins, "binning": BINNING,
                 "bootstrap": self.options.bootstrap}
        if default is not None:
            extra["default_baseline"] = default
        if view.defense:
            extra["defense"] = view.defense
        return [self.record(ctx, metric, value, "test", model=view.model,
                            ci=result.intervals.get(metric), n=result.n, **extra)
                for metric, value in result.values.items()]


def _radius(text: str) -> float:
    from fractions import Fraction

    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise EbmbenchError(f"purify_radius={text!r}: give a number such as 0.1 or 8/255, auto or none") from None


