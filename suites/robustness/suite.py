"""Suite ``robustness``: PGD robustness of a classifier, and of a conditional EBM used as one, measured so that it
can be trusted.

The reference paper (Du & Mordatch 2019) classifies with the label of lowest energy E(x, y), optionally after
a few Langevin steps from the input, and attacks with gradients that skip those steps. Such defenses look far
stronger than they are unless the attack adapts (Athalye et al. 2018; Croce et al. 2022), so every number here
is labelled with its threat model and the adaptive ones sit beside the paper's:

- ``white-box``: PGD with the gradients of the classifier view it evaluates (plain logits, no defense).
- ``transfer-from-classifier`` (the paper's protocol): the white-box examples of the EBM's plain logits,
  evaluated with purification.
- ``bpda+eot``: gradients through the purification by straight-through approximation, summed over ``eot``
  draws of its noise per step.
- ``full``: gradients through the unrolled Langevin steps (with EOT), in chunks of ``full_batch_size``;
  skipped with a warning where memory runs out.
- ``transfer-from:NAME``: a baseline's white-box examples evaluated on the model (a black-box check).
- ``autoattack`` (optional): torchattacks' AutoAttack ("rand" version with BPDA on the purified view).

Stochastic defenses are evaluated over ``draws`` draws of their noise (paired across threat models) and
reported with a 95% interval and the spread between draws. Sanity checks (see ``robustness_sanity``) warn,
and are written to ``warnings.json`` and as ``sanity_*`` records. The run directory also holds
``robustness.md`` (the table), ``robustness_curves.png`` and ``per_example/`` (correctness per example and
draw, which the sanity checks of a resumed run read back).

The purification uses the shared sampler's defaults (those the EBM is trained with) within a box of 8/255
around the input (0.1 for small images), K = 10 steps; the reference code's are step size 10, noise 0.005,
gradients clipped at 0.01 (``sampler.step_size=10 sampler.noise=0.005 sampler.grad_clip=0.01``).
The default attack budget (20 PGD steps,
EOT 4, 5 draws, unrolled ``full`` attack) is sized for a GPU; on a CPU start from the ``quickstart`` settings.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ebmbench.atomic import atomic_path, atomic_write_text
from ebmbench.baselines import Recipe, default_baselines
from ebmbench.errors import EbmbenchError
from ebmbench.fingerprint import fingerprint
from ebmbench.models.base import Capability, Model, require
from ebmbench.options import check_ranges, option
from ebmbench.records import Record
from ebmbench.rundir import per_example_file
from ebmbench.sampler import LangevinOptions
from ebmbench.suite import Suite, SuiteContext
from ebmbench.suites.robustness.attacks import (
    NORMS,
    AttackSpec,
    attack_batches,
    default_grid,
    default_radius,
    parse_eps,
    step_size,
)
from ebmbench.suites.robustness.eval import Accuracy, evaluate, paired_gain
from ebmbench.suites.robustness.report import save_curves, save_table
from ebmbench.suites.robustness.sanity import Outcome, run_checks
from ebmbench.suites.robustness.spec import SPEC
from ebmbench.suites.robustness.views import PlainView, Purification, PurifiedView, can_purify

ADAPTIVE = ("bpda+eot", "full")
# Default baselines (``ebmbench.baselines``' rule): a standard classifier and a PGD-trained one (Madry et al.
# 2018). Short runs: together well under a minute of CPU on the digits, so the quickstart stays within its share.
DEFAULT_BASELINES: tuple[Recipe, ...] = (
    Recipe("classifier", "classifier", {"width": 16, "iterations": 200, "batch_size": 64}),
    Recipe("classifier-pgd", "classifier", {"width": 16, "iterations": 200, "batch_size": 64,
                                            "adv_train": "linf:0.1", "adv_steps": 3}),
)
CONTROL = "noise-only"
PURIFIED = ("langevin", CONTROL)


class RobustnessWarning(UserWarning):
    """A robustness number that fails a sanity check."""


@dataclass(frozen=True)
class RobustnessOptions:
    """Options of the robustness suite (``--set key=value``; each field's help says what it does)."""

    budget: str = option("full", help="preset of the other options' defaults: full (the GPU-sized default) or "
                                      "cpu (200 images, a short grid and short attacks: minutes on two cores); "
                                      "options you set yourself win")
    n: int = option(500, help="test images attacked (a seeded subset)")
    norms: tuple[str, ...] = option(NORMS, help="threat norms: linf and/or l2")
    linf_eps: tuple[str, ...] = option((), help="L∞ epsilon grid in data units, fractions allowed (0,2/255,8/255; "
                                                "empty: the default for the data)")
    l2_eps: tuple[str, ...] = option((), help="L2 epsilon grid (empty: the default for the data)")
    steps: int = option(20, help="PGD steps (step size = step_factor * eps / steps)")
    step_factor: float = option(2.5, help="PGD step size factor")
    restarts: int = option(1, help="PGD restarts; an example is robust only if it survives every one")
    adaptive: tuple[str, ...] = option(ADAPTIVE, help="adaptive threat models on the purified view (bpda+eot, full)")
    eot: int = option(4, help="noise draws per attack step on the purified view (EOT)")
    draws: int = option(5, help="evaluation draws of the purification's noise")
    purify_steps: int = option(10, help="Langevin purification steps (0: no purification)")
    sampler: LangevinOptions = option(factory=LangevinOptions, help="the purification's Langevin update")
    purify_radius: str = option("auto", help="box around the input for purification (auto: 8/255, 0.1 for small "
                                             "images; none: no box)")
    purify_per_class: bool | None = option(None, help="one chain per label (none: for conditional models)")
    autoattack: bool = option(False, help="add torchattacks' AutoAttack")
    square_queries: int = option(1000, help="query budget of torchattacks' gradient-free Square attack on the "
                                            "purified view (0: off)")
    control: bool = option(True, help="also evaluate the noise-only control (the same purification without the "
                                      "energy gradient) under the same threat models and draws, and the gain over it")
    transfer_from_baselines: bool = option(True, help="evaluate the baselines' adversarial examples on the model")
    default_baselines: bool = option(True, help="train and cache a standard and a PGD-trained classifier for the "
                                                "digits when no --baseline is given")
    full_batch_size: int = option(32, help="images per unrolled-attack chunk")
    batch_size: int = option(100, help="images per batch elsewhere")

    PRESET_KEY: ClassVar[str] = "budget"
    PRESETS: ClassVar[dict[str, dict[str, str]]] = {
        "full": {},
        # every row type of the full preset but the unrolled attack, on a short grid; Square's query budget is
        # cut most, since each query is a whole purification (10 labels x 6 passes per image): at 1000 queries it
        # was 95% of the run
        "cpu": {"n": "200", "linf_eps": "0,0.1,0.2", "l2_eps": "0,0.5,1", "steps": "5", "adaptive": "bpda+eot",
                "eot": "2", "draws": "2", "purify_steps": "5", "square_queries": "100"},
    }

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("n", "steps", "restarts", "eot", "draws", "full_batch_size", "batch_size"),
                     non_negative=("square_queries",))
        if self.budget not in self.PRESETS:
            raise ValueError(f"budget must be one of {', '.join(self.PRESETS)}")


@dataclass
class Target:
    """A model under attack and its classifier views: ``none`` (plain logits) and, if it purifies, ``langevin``."""

    name: str
    model: Model
    views: dict[str, torch.nn.Module] = field(default_factory=dict)
    purification: Purification | None = None


@dataclass(frozen=True)
class Plan:
    """The resolved grid and purification."""

    grid: tuple[tuple[str, float, str], ...]  # (norm, eps, label)
    purification: Purification | None


class RobustnessSuite(Suite):
    """Clean and robust accuracy per (model, defense, threat model, norm, epsilon), with sanity checks."""

    spec = SPEC
    requires = (Capability.LOGITS,)
    Options = RobustnessOptions
    uses_baselines = True
    # about a CPU minute on the digits (plus the default baselines' training on first use); the unrolled
    # ``full`` attack costs several times BPDA's, so the quickstart leaves it to full runs
    quickstart = ("n=80", "linf_eps=0,0.1,0.2", "l2_eps=0,0.5,1", "steps=3", "adaptive=bpda+eot", "eot=2",
                  "draws=2", "purify_steps=3", "square_queries=100")

    def __init__(self, options: RobustnessOptions) -> None:
        super().__init__(options)
        self._eps0: dict[tuple[str, str, str], Accuracy] = {}
        self.images = ""  # fingerprint of the attacked images and labels, so that compare can pair two runs

    def prepare(self, ctx: SuiteContext) -> Plan:
        o = self.options
        if bad := [n for n in o.norms if n not in NORMS]:
            raise EbmbenchError(f"unknown norm {bad[0]!r}; choose from {', '.join(NORMS)}")
        if bad := [a for a in o.adaptive if a not in ADAPTIVE]:
            raise EbmbenchError(f"unknown adaptive threat model {bad[0]!r}; choose from {', '.join(ADAPTIVE)}")
        if ctx.model.info.num_classes < 2:
            raise EbmbenchError("the robustness suite needs a model that classifies (two or more classes)")
        for name, model in {ctx.model_name: ctx.model, **ctx.baselines}.items():
            require(model, Capability.LOGITS, who=f"the robustness suite (model {name!r})")
            if tuple(model.info.value_range) != (0.0, 1.0):
                raise EbmbenchError(f"model {name!r} takes inputs in {tuple(model.info.value_range)}; the attacks "
                                    "(torchattacks) need images in [0, 1]")
            if model.info.num_classes != ctx.model.info.num_classes:
                raise EbmbenchError(f"baseline {name!r} has {model.info.num_classes} classes, the model "
                                    f"{ctx.model.info.num_classes}")
        return self._plan(ctx)

    def _plan(self, ctx: SuiteContext) -> Plan:
        o, shape = self.options, ctx.model.info.input_shape
        grid = []
        for norm in o.norms:
            labels = getattr(o, f"{norm}_eps") or default_grid(norm, shape)
            grid += sorted(((norm, parse_eps(label), label) for label in labels), key=lambda g: g[1])
        return Plan(tuple(grid), self._purification(ctx.model, shape))

    def _purification(self, model: Model, shape: tuple[int, ...]) -> Purification | None:
        o = self.options
        if o.purify_steps <= 0 or not can_purify(model):
            return None
        text = o.purify_radius.strip().lower()
        radius = default_radius(shape) if text == "auto" else None if text == "none" else parse_eps(text)
        per_class = model.info.conditional if o.purify_per_class is None else o.purify_per_class
        purification = Purification(steps=o.purify_steps, sampler=o.sampler, radius=radius, per_class=per_class)
        PurifiedView(model, purification)  # fails fast when the model cannot purify this way
        return purification

    def health_probe(self, ctx: SuiteContext, plan: Plan) -> Any:
        """The model-health chains: the purification itself (from test images, within its box), if any."""
        from ebmbench.health import ChainProbe

        p = plan.purification
        if p is None:
            return None
        return ChainProbe(p.chain(tuple(ctx.model.info.value_range)), start="data", project_radius=p.radius,
                          per_class=p.per_class)

    # --- running ----------------------------------------------------------------------------------------------

    def run(self, ctx: SuiteContext, plan: Plan) -> None:
        x, y = ctx.load("test").tensors(self.options.n, seed=ctx.seed)
        self.images = fingerprint(x, y)
        targets = self._targets(ctx, plan)
        if not ctx.is_done("clean"):
            self._commit(ctx, "clean", self._clean(ctx, targets, x, y))
        for norm, eps, label in tqdm(plan.grid, desc="robustness", disable=not ctx.progress):
            unit = f"{norm}@{label}"
            if not ctx.is_done(unit):
                self._commit(ctx, unit, self._ball(ctx, targets, x, y, norm, eps, label))
        self._finish(ctx)

    def _targets(self, ctx: SuiteContext, plan: Plan) -> list[Target]:
        baselines = dict(ctx.baselines)
        if self.options.default_baselines:
            defaults = default_baselines(ctx, DEFAULT_BASELINES, taken=[ctx.model_name])
            baselines.update({name: d.model for name, d in defaults.items()})
        main = Target(ctx.model_name, ctx.model.eval(), {"none": PlainView(ctx.model)}, plan.purification)
        if plan.purification is not None:
            main.views["langevin"] = PurifiedView(ctx.model, plan.purification, "bpda")
            if self.options.control:
                main.views[CONTROL] = PurifiedView(ctx.model, plan.purification.control(), "bpda")
        return [main] + [Target(name, m.eval(), {"none": PlainView(m)}) for name, m in baselines.items()]

    def _clean(self, ctx: SuiteContext, targets: list[Target], x: torch.Tensor, y: torch.Tensor) -> list:
        out = []
        for t in targets:
            for defense, view in t.views.items():
                acc = self._evaluate(ctx, view, [x], y)
                out.append((self._stamp(ctx, "clean_accuracy", acc, t, defense, "clean", {}), acc))
        return out

    def _ball(self, ctx: SuiteContext, targets: list[Target], x: torch.Tensor, y: torch.Tensor, norm: str,
              eps: float, label: str) -> list:
        """Every threat model at one (norm, epsilon)."""
        o = self.options
        spec = AttackSpec(norm, eps, o.steps, step_size(eps, o.steps, o.step_factor), o.restarts)  # type: ignore[arg-type]
        ball = {"norm": norm, "epsilon": eps, "epsilon_label": label}
        out, sources = [], {}
        for t in targets:
            sources[t.name] = self._attack(ctx, t.views["none"], x, y, spec, False)
            meta = {**ball, **_spec_extra(spec), "gradient": "logits", "source": t.name}
            out.append(self._outcome(ctx, t, "none", "white-box", sources[t.name], y, meta))
            for defense in PURIFIED:
                if defense in t.views:
                    out.append(self._outcome(ctx, t, defense, "transfer-from-classifier", sources[t.name], y, meta))
        main = targets[0]
        for defense in PURIFIED:
            if defense in main.views:
                out += self._adaptive(ctx, main, defense, x, y, replace(spec, eot=o.eot), ball)
        if o.square_queries and "langevin" in main.views:
            out += self._square(ctx, main, x, y, replace(spec, kind="square", steps=o.square_queries, restarts=1),
                                ball)
        if o.transfer_from_baselines:
            for b in targets[1:]:
                meta = {**ball, **_spec_extra(spec), "gradient": "logits", "source": b.name}
                out += [self._outcome(ctx, main, d, f"transfer-from:{b.name}", sources[b.name], y, meta)
                        for d in main.views]
        if o.autoattack:
            out += self._autoattack(ctx, targets, x, y, replace(spec, kind="autoattack", restarts=1), ball)
        return out

    def _adaptive(self, ctx: SuiteContext, main: Target, defense: str, x: torch.Tensor, y: torch.Tensor,
                  spec: AttackSpec, ball: dict[str, Any]) -> list:
        out = []
        for threat in self.options.adaptive:
            gradient = "bpda" if threat == "bpda+eot" else "full"
            view = PurifiedView(main.model, main.views[defense].purification, gradient)
            batch = self.options.full_batch_size if gradient == "full" else self.options.batch_size
            try:
                advs = self._attack(ctx, view, x, y, spec, True, batch)
            except torch.OutOfMemoryError:
                _cuda_empty()
                warnings.warn(f"threat model {threat!r} skipped at {ball['norm']} ε={ball['epsilon_label']}: out of "
                              f"memory with full_batch_size={batch}; lower it", RobustnessWarning, stacklevel=2)
                continue
            meta = {**ball, **_spec_extra(spec), "gradient": gradient, "source": main.name}
            out.append(self._outcome(ctx, main, defense, threat, advs, y, meta))
        return out

    def _square(self, ctx: SuiteContext, main: Target, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec,
                ball: dict[str, Any]) -> list:
        """torchattacks' Square attack on the purified view: queries only, so gradient masking cannot help it."""
        advs = self._attack(ctx, main.views["langevin"], x, y, spec, True)
        meta = {**ball, **_spec_extra(spec), "gradient": "none", "source": main.name}
        return [self._outcome(ctx, main, "langevin", "square", advs, y, meta)]

    def _autoattack(self, ctx: SuiteContext, targets: list[Target], x: torch.Tensor, y: torch.Tensor,
                    spec: AttackSpec, ball: dict[str, Any]) -> list:
        out = []
        for t in targets:
            for defense, view in t.views.items():
                advs = self._attack(ctx, view, x, y, spec, defense == "langevin")
                meta = {**ball, **_spec_extra(spec), "gradient": "bpda" if defense == "langevin" else "logits",
                        "source": t.name}
                out.append(self._outcome(ctx, t, defense, "autoattack", advs, y, meta))
        return out

    def _attack(self, ctx: SuiteContext, view: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec,
                stochastic: bool, batch_size: int | None = None) -> list[torch.Tensor]:
        if spec.eps == 0:  # the identity; torchattacks' PGDL2 would divide 0 by 0 here
            return [x.clone() for _ in range(spec.restarts)]
        num_classes = int(view.model.info.num_classes)
        return attack_batches(view, x, y, spec, num_classes, ctx.seed, stochastic,
                              batch_size or self.options.batch_size, ctx.device)

    def _evaluate(self, ctx: SuiteContext, view: torch.nn.Module, advs: list[torch.Tensor],
                  y: torch.Tensor) -> Accuracy:
        return evaluate(view, advs, y, self.options.draws, ctx.seed, self.options.batch_size, ctx.device)

    def _outcome(self, ctx: SuiteContext, t: Target, defense: str, threat: str, advs: list[torch.Tensor],
                 y: torch.Tensor, meta: dict[str, Any]) -> tuple[Record, Accuracy]:
        """Evaluate one threat model's examples. At epsilon 0 every threat model's examples are the clean images,
        so each view is evaluated once there (a second pass, independent of the clean one) and shared."""
        key = (t.name, defense, meta["norm"])
        acc = self._eps0.get(key) if meta["epsilon"] == 0 else None
        if acc is None:
            acc = self._evaluate(ctx, t.views[defense], advs, y)
            if meta["epsilon"] == 0:
                self._eps0[key] = acc
        return self._stamp(ctx, "robust_accuracy", acc, t, defense, threat, meta), acc

    def _stamp(self, ctx: SuiteContext, metric: str, acc: Accuracy, t: Target, defense: str, threat: str,
               meta: dict[str, Any]) -> Record:
        where = f"{meta['norm']}@{meta['epsilon_label']}" if meta else "test"
        view = t.views.get(defense)
        purification = view.purification.describe() if isinstance(view, PurifiedView) else "none"
        return self.record(ctx, metric, acc.value, f"{defense}/{threat}/{where}", model=t.name,
                           ci=acc.ci(), n=acc.n, threat_model=threat, defense=defense,
                           purification=purification, draws=acc.draws, draw_std=acc.draw_std,
                           per_draw=acc.per_draw, images=self.images,
                           per_example_file=per_example_file(self._unit(meta)),
                           per_example_key=f"{t.name}|{defense}|{threat}", **meta)

    @staticmethod
    def _unit(meta: dict[str, Any]) -> str:
        """The unit a record belongs to (its per-example file is named after it)."""
        return f"{meta['norm']}@{meta['epsilon_label']}" if meta else "clean"

    # --- results ----------------------------------------------------------------------------------------------

    def _commit(self, ctx: SuiteContext, unit: str, results: list[tuple[Record, Accuracy]]) -> None:
        """Per-example correctness first (for the sanity checks of resumed runs), then the unit's records and
        the purification's gains over its noise-only control."""
        arrays = {_key(r): acc.correct.numpy().astype(np.uint8) for r, acc in results}
        with atomic_path(ctx.run.file(per_example_file(unit))) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        ctx.commit(unit, [r for r, _ in results] + self._gains(ctx, results))

    def _gains(self, ctx: SuiteContext, results: list[tuple[Record, Accuracy]]) -> list[Record]:
        """Accuracy of the purification minus its noise-only control's, per threat model, with a paired 95%
        interval (same examples, same draws of the noise)."""
        found = {(r.model, r.extra["defense"], r.extra["threat_model"]): (r, acc) for r, acc in results}
        out = []
        for (model, defense, threat), (r, acc) in found.items():
            if defense != "langevin" or (model, CONTROL, threat) not in found:
                continue
            gain, ci = paired_gain(acc, found[(model, CONTROL, threat)][1])
            extra = {k: v for k, v in r.extra.items() if k not in ("per_draw", "draw_std", "purification")}
            out.append(self.record(ctx, "purification_gain", gain, f"langevin-vs-{CONTROL}/" + r.eval_set.split(
                "/", 1)[1], model=model, ci=ci, n=acc.n,
                **{**extra, "defense": f"langevin-vs-{CONTROL}", "control": CONTROL}))
        return out

    def _finish(self, ctx: SuiteContext) -> None:
        records = [r for r in ctx.run.records()
                   if r.suite == self.name and not r.metric.startswith(("sanity_", "health_"))]
        outcomes, clean = _load_outcomes(ctx, records)
        counts, found = run_checks(outcomes, clean)
        for w in found:
            warnings.warn(f"robustness sanity ({w['check']}): {w['model']} [{w['defense']}] {w['threat_model']} "
                          f"{w['norm']} ε={w['epsilon_label']}: {w['message']}", RobustnessWarning, stacklevel=2)
        ctx.commit("sanity", [self.record(ctx, f"sanity_{check}", sum(w["check"] == check for w in found), "all",
                                          n=count,
                                          passed=not any(w["check"] == check for w in found))
                              for check, count in counts.items()])
        atomic_write_text(ctx.run.file("warnings.json"), json.dumps(found, indent=2) + "\n")
        save_table(records, found, ctx.run.file("robustness.md"))
        save_curves(records, ctx.run.file("robustness_curves.png"), title=f"({ctx.dataset})")


def _key(r: Record) -> str:
    return f"{r.model}|{r.extra['defense']}|{r.extra['threat_model']}"


def _spec_extra(spec: AttackSpec) -> dict[str, Any]:
    return {"attack": spec.kind, "steps": spec.steps, "step_size": spec.step_size, "restarts": spec.restarts,
            "eot": spec.eot}


def _load_outcomes(ctx: SuiteContext, records: list[Record]
                   ) -> tuple[list[Outcome], dict[tuple[str, str], Accuracy]]:
    """Outcomes and clean accuracies of every committed unit, from the per-example files."""
    cache: dict[str, Any] = {}
    outcomes, clean = [], {}
    for r in records:
        unit = r.extra.get("unit", "")
        if unit not in cache:
            path = ctx.run.path / per_example_file(unit)
            cache[unit] = dict(np.load(path)) if path.exists() else {}
        arr = cache[unit].get(_key(r))
        if arr is None:
            continue
        acc = Accuracy(torch.from_numpy(arr.astype(bool)))
        if r.metric == "clean_accuracy":
            clean[(r.model, r.extra["defense"])] = acc
        else:
            outcomes.append(Outcome(r.model, r.extra["defense"], r.extra["threat_model"], r.extra["norm"],
                                    r.extra["epsilon"], r.extra["epsilon_label"], acc))
    return outcomes, clean


def _cuda_empty() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
