"""Suite ``restoration``: denoising and inpainting by Langevin dynamics started from the corrupted image
(Du & Mordatch 2019, section 4).

``n`` test images are corrupted (see ``corruptions``: Gaussian noise at several sigma, salt-and-pepper noise,
a centre box, random pixels and half the image missing) and restored by the shared Langevin sampler started at
the corrupted image. For masks the known pixels are put back after every step (the sampler's ``project``
hook), so only the missing ones change. A conditional model samples E(x, y) with the true label
(``label=true``), with its own prediction on the corrupted image (``predicted``, the default: no label leaks)
or its marginal energy (``marginal``).

Per corruption, for the model after each number of ``steps`` (0 = the corrupted input itself), for the
corrupted input and for a simple baseline (``baselines``: a median filter for noise, the mean training image
for masks): PSNR and SSIM against the clean image (mean over images, Student-t 95% interval; see ``metrics``),
and the accuracy of every classifier (``--baseline`` models with logits, or the digits' default classifier) on
those images (Wilson 95% interval), beside its accuracy on the clean images. Rows of the model carry ``steps``;
the corrupted input and the baseline are their own columns (models ``corrupted-input``, ``median-filter``,
``mean-image``). Each accuracy's per-image correctness goes to ``per_example/UNIT.npz`` (the key is in the
record), so ``compare`` tests accuracy changes instead of relying on interval overlap. Figures:
``restoration_grid.png`` (clean, corrupted, baseline and restored images per corruption) and
``metric_vs_steps.png``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ebmbench.atomic import atomic_path
from ebmbench.baselines import Recipe, default_baselines
from ebmbench.errors import EbmbenchError
from ebmbench.fingerprint import fingerprint
from ebmbench.models.base import Capability, Model
from ebmbench.options import check_ranges, option
from ebmbench.records import Record
from ebmbench.rundir import per_example_file
from ebmbench.sampler import LangevinConfig, LangevinOptions, langevin, make_generator
from ebmbench.scoring import free_energy
from ebmbench.seeds import keyed
from ebmbench.suite import Suite, SuiteContext
from ebmbench.suites.restoration.baselines import baseline_name, baseline_restore
from ebmbench.suites.restoration.corruptions import DEFAULT_CORRUPTIONS, Corruption, corrupt, parse_corruption
from ebmbench.suites.restoration.intervals import mean_interval, wilson
from ebmbench.suites.restoration.metrics import psnr, ssim
from ebmbench.suites.restoration.plots import metric_vs_steps, restoration_grid
from ebmbench.suites.restoration.spec import SPEC

CORRUPTED = "corrupted-input"
CLEAN = "clean-input"
GRID_IMAGES = 8  # images per corruption kept for the figure
# The default classifier: the robustness suite's standard one (the same recipe: the model cache serves both).
DEFAULT_BASELINES: tuple[Recipe, ...] = (Recipe("classifier", "classifier",
                                                {"width": 16, "iterations": 200, "batch_size": 64}),)


@dataclass(frozen=True)
class RestorationOptions:
    """Options of the restoration suite (``--set key=value``; each field's help says what it does)."""

    corruptions: tuple[str, ...] = option(DEFAULT_CORRUPTIONS, help="KIND:LEVEL names: gaussian:S, "
                                                                    "salt-pepper:P, box:F, pixels:P, "
                                                                    "half:bottom|top|left|right")
    n: int | None = option(None, help="test images, a seeded subset (none: all)")
    steps: tuple[int, ...] = option((0, 10, 20, 40), help="Langevin step counts at which restorations are scored "
                                                          "(0: the corrupted input)")
    label: Literal["predicted", "true", "marginal"] = option("predicted", help="conditional models: sample E(x, y) "
                                                                               "with the model's prediction on the "
                                                                               "corrupted image, the true label, "
                                                                               "or the marginal energy")
    sampler: LangevinOptions = option(factory=LangevinOptions, help="the Langevin update")
    ssim_window: int = option(7, help="SSIM window (odd, at most the image side)")
    default_baselines: bool = option(True, help="a standard classifier, trained and cached for the digits when no "
                                                "--baseline is given, scores the images")
    batch_size: int = option(128, help="images per batch")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("n", "batch_size", "ssim_window"))
        if not self.corruptions:
            raise ValueError("corruptions must name at least one corruption")
        if not self.steps or min(self.steps) < 0 or len(set(self.steps)) != len(self.steps):
            raise ValueError("steps must be distinct non-negative integers, e.g. steps=0,10,20,40")

    def chain(self, steps: int, value_range: tuple[float, float]) -> LangevinConfig:
        return self.sampler.chain(steps, clamp=tuple(value_range))


@dataclass(frozen=True)
class Plan:
    corruptions: tuple[Corruption, ...]
    n: int
    steps: tuple[int, ...]


class RestorationSuite(Suite):
    """PSNR, SSIM and classifier accuracy of Langevin restorations of corrupted test images."""

    spec = SPEC
    requires = (Capability.ENERGY,)
    Options = RestorationOptions
    uses_baselines = True
    quickstart = ("n=100", "steps=0,5,10,20")

    def __init__(self, options: RestorationOptions) -> None:
        super().__init__(options)
        self.provenance: dict[str, dict] = {}  # default classifier name -> what produced it
        self.images = ""  # fingerprint of the test images and labels
        self._correct: dict[str, np.ndarray] = {}  # per-example correctness of the unit being scored

    def prepare(self, ctx: SuiteContext) -> Plan:
        o, info = self.options, ctx.model.info
        corruptions = tuple(parse_corruption(c) for c in o.corruptions)
        if len({c.name for c in corruptions}) != len(corruptions):
            raise EbmbenchError("corruptions names one corruption twice")
        if min(info.input_shape[1:]) < o.ssim_window or o.ssim_window % 2 == 0:
            raise EbmbenchError(f"ssim_window={o.ssim_window} must be odd and at most the image side "
                                f"({min(info.input_shape[1:])})")
        if o.label == "true" and not info.conditional:
            raise EbmbenchError("label=true needs a class-conditional model; leave label at its default")
        for name, model in ctx.baselines.items():
            if not model.has(Capability.LOGITS):
                raise EbmbenchError(f"baseline {name!r} has no logits: the restoration suite uses --baseline "
                                    "models as classifiers of the restored images")
        size = len(ctx.load("test"))
        return Plan(corruptions, min(o.n or size, size), tuple(sorted(o.steps)))

    # --- running ----------------------------------------------------------------------------------------------
    def run(self, ctx: SuiteContext, plan: Plan) -> None:
        clean, labels = ctx.load("test").tensors(plan.n, seed=ctx.seed)
        self.images = fingerprint(clean, labels)  # compare pairs two runs' per-example outcomes on the same images
        classifiers = self._classifiers(ctx)
        if not ctx.is_done("clean"):
            self._commit(ctx, "clean", [self._accuracy(ctx, CLEAN, "clean", clf, m, clean, labels)
                                        for clf, m in classifiers.items()])
        mean_image = ctx.load("train").tensors()[0].mean(dim=0, keepdim=True)
        for index, c in enumerate(plan.corruptions):
            path = ctx.run.file(f"images/{c.name.replace(':', '_')}.npz")
            if ctx.is_done(c.name) and path.exists():
                continue
            records, shown = self._corruption(ctx, plan, c, index, clean, labels, mean_image, classifiers)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez_compressed(fh, **shown)
            self._commit(ctx, c.name, records)
        self._figures(ctx, plan)

    def _classifiers(self, ctx: SuiteContext) -> dict[str, Model]:
        """``--baseline`` models (all have logits, see ``prepare``) and, under the default-baseline rule, the
        default classifier."""
        found = dict(ctx.baselines)
        if self.options.default_baselines:
            defaults = default_baselines(ctx, DEFAULT_BASELINES, taken=[ctx.model_name, *found])
            self.provenance = {name: d.provenance() for name, d in defaults.items()}
            found.update({name: d.model for name, d in defaults.items()})
        return found

    def _corruption(self, ctx: SuiteContext, plan: Plan, c: Corruption, index: int, clean: torch.Tensor,
                    labels: torch.Tensor, mean_image: torch.Tensor, classifiers: dict[str, Model]
                    ) -> tuple[list[Record], dict[str, np.ndarray]]:
        seed = keyed(ctx.seed, "restoration", c.name, "corrupt")  # a corruption's draws do not depend on the others
        corrupted, known = corrupt(c, clean, tuple(ctx.model.info.value_range), seed=seed)
        simple = baseline_restore(c, corrupted, known, mean_image)
        restored = self._restore(ctx, plan, corrupted, known if c.is_mask else None, labels, c.name)
        records = self._scores(ctx, c, CORRUPTED, corrupted, clean, labels, classifiers)
        records += self._scores(ctx, c, baseline_name(c), simple, clean, labels, classifiers)
        for steps, images in restored.items():
            records += self._scores(ctx, c, ctx.model_name, images, clean, labels, classifiers, steps=steps)
        k = min(GRID_IMAGES, len(clean))
        shown = {"clean": clean[:k].numpy(), "corrupted": corrupted[:k].numpy(), "baseline": simple[:k].numpy(),
                 "restored": restored[plan.steps[-1]][:k].numpy()}
        return records, shown

    def _restore(self, ctx: SuiteContext, plan: Plan, corrupted: torch.Tensor, known: torch.Tensor | None,
                 labels: torch.Tensor, name: str) -> dict[int, torch.Tensor]:
        """The restorations after each step count (one chain per image, scored at every count on its way)."""
        gen = make_generator(keyed(ctx.seed, "restoration", name, "langevin"), ctx.device)
        out: dict[int, list[torch.Tensor]] = {s: [] for s in plan.steps}
        value_range = tuple(ctx.model.info.value_range)
        for start in range(0, len(corrupted), self.options.batch_size):
            x = corrupted[start:start + self.options.batch_size].to(ctx.device)
            energy, y = self._energy(ctx, x, labels[start:start + len(x)].to(ctx.device))
            project = _keep_known(x, known[start:start + len(x)].to(ctx.device)) if known is not None else None
            done = 0
            for steps in plan.steps:
                if steps > done:
                    x = langevin(energy, x, self.options.chain(steps - done, value_range), y=y, generator=gen,
                                 model=ctx.model, project=project, micro_batch="auto").x
                    done = steps
                out[steps].append(x.detach().cpu())
        return {s: torch.cat(v) for s, v in out.items()}

    def _energy(self, ctx: SuiteContext, x: torch.Tensor, true: torch.Tensor
                ) -> tuple[Callable, torch.Tensor | None]:
        model = ctx.model
        if not model.info.conditional:
            return model.energy, None
        if self.options.label == "marginal":
            return (lambda z, _y: free_energy(model, z)), None
        if self.options.label == "true":
            return model.energy, true
        with torch.no_grad():
            return model.energy, model.energy_all_classes(x).argmin(dim=1)

    # --- results ----------------------------------------------------------------------------------------------
    def _scores(self, ctx: SuiteContext, c: Corruption, model: str, images: torch.Tensor, clean: torch.Tensor,
                labels: torch.Tensor, classifiers: dict[str, Model], steps: int | None = None) -> list[Record]:
        rng = tuple(ctx.model.info.value_range)
        extra = {"corruption": c.kind, "level": c.level, "label": self._label_mode(ctx)}
        if steps is not None:
            extra["steps"] = steps
        out = []
        for metric, values in (("psnr", psnr(images, clean, rng[1] - rng[0])),
                               ("ssim", ssim(images, clean, rng[1] - rng[0], self.options.ssim_window))):
            v = values.numpy()
            out.append(self.record(ctx, metric, float(v.mean()), c.name, model=model,
                                   ci=mean_interval(v), n=len(v), **extra))
        out += [self._accuracy(ctx, model, c.name, clf, m, images, labels, **extra) for clf, m in classifiers.items()]
        return out

    def _accuracy(self, ctx: SuiteContext, model: str, eval_set: str, clf_name: str, clf: Model,
                  images: torch.Tensor, labels: torch.Tensor, **extra: object) -> Record:
        hits = []
        with torch.no_grad():
            for start in range(0, len(images), self.options.batch_size):
                x = images[start:start + self.options.batch_size].to(ctx.device)
                pred = clf.logits(x).argmax(dim=1).cpu()
                hits.append((pred == labels[start:start + len(x)]).numpy())
        correct = int(sum(int(h.sum()) for h in hits))
        if clf_name in self.provenance:
            extra["default_baseline"] = self.provenance[clf_name]
        key = f"{model}|{clf_name}|{extra.get('steps', '')}"
        self._correct[key] = np.concatenate(hits).astype(np.uint8)
        return self.record(ctx, "accuracy", correct / len(images), eval_set, model=model,
                           ci=wilson(correct, len(images)), n=len(images), classifier=clf_name,
                           per_example_file=per_example_file(eval_set), per_example_key=key, images=self.images,
                           **extra)

    def _commit(self, ctx: SuiteContext, unit: str, records: list[Record]) -> None:
        """The unit's per-example correctness (what compare tests accuracies on) first, then its records."""
        with atomic_path(ctx.run.file(per_example_file(unit))) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **self._correct)
        self._correct = {}
        ctx.commit(unit, records)

    def _label_mode(self, ctx: SuiteContext) -> str:
        return self.options.label if ctx.model.info.conditional else "unconditional"

    def _figures(self, ctx: SuiteContext, plan: Plan) -> None:
        shown = {}
        for c in plan.corruptions:
            path = ctx.run.file(f"images/{c.name.replace(':', '_')}.npz")
            if path.exists():
                shown[c.name] = dict(np.load(path))
        title = f"{ctx.model_name} on {ctx.dataset}: Langevin restoration ({plan.steps[-1]} steps)"
        restoration_grid(shown, ctx.run.file("restoration_grid.png"), title)
        records = [r for r in ctx.run.records() if r.suite == self.name]
        metric_vs_steps(records, ctx.model_name, ctx.run.file("metric_vs_steps.png"), title=f"{ctx.model_name} on "
                        f"{ctx.dataset}")


def _keep_known(start: torch.Tensor, known: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """The projection that puts the known pixels back after every step (inpainting)."""
    fixed = start.detach()
    return lambda x: torch.where(known, fixed, x)
