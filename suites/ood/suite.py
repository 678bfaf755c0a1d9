"""Suite ``ood``: out-of-distribution detection by the model under test against flow, autoregressive and
classifier baselines, as in Du & Mordatch (2019) Table 2 and JEM's extension.

Each model is scored on the in-distribution test images and on each OOD set with every score that applies
to it (``ood_scores``; higher = more in-distribution). With in-distribution as the positive class, AUROC,
AUPR-IN, AUPR-OUT and FPR@95TPR come with seeded stratified-bootstrap 95% intervals (``ood_metrics``), one
record per (model, score, set, metric) plus the average over sets. Every image goes through the same
preprocessing, whichever side it is on: loaded in [0, 1] and conformed to the model's input shape, nothing
else (the reference code adds noise to one side only; we don't). Likelihood models dequantize inside their
``log_prob`` with one convention for all inputs.

Baselines come from ``--baseline NAME=CKPT``; for the digits, when none is given, a Glow, a PixelCNN++ and a
classifier are trained on the model's dataset on first use and cached (``ebmbench.baselines``' rule; the
classifier with Gaussian noise augmentation, see ``RECIPES``). Artifacts:
``scores/SET.csv`` (per-sample scores), ``hist/SET.png`` (histograms) and ``ood_table.md`` (the paper's layout).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ebmbench import distributed
from ebmbench.atomic import atomic_write_text
from ebmbench.baselines import Recipe, default_baselines
from ebmbench.errors import DataError, EbmbenchError
from ebmbench.fingerprint import fingerprint
from ebmbench.markdown import md_escape
from ebmbench.models.base import Capability, Model
from ebmbench.options import check_ranges, option
from ebmbench.records import Record
from ebmbench.scoring import check_finite, score_set
from ebmbench.seeds import keyed
from ebmbench.suite import Suite, SuiteContext

from . import data as ood_data
from . import metrics as ood_metrics
from . import report as ood_report
from . import scores as ood_scores
from .spec import SPEC

# Default baselines by family (``ebmbench.baselines``' rule; option ``default_baselines`` picks the families).
# The classifier trains with Gaussian noise augmentation: trained on clean digits only, its max-softmax AUROC on
# uniform noise is about 0.9 (softmax overconfidence away from the data, Hein et al. 2019), with it 0.99 or more;
# a plain one can be given by --baseline.
RECIPES: dict[str, Recipe] = {
    "glow": Recipe("Glow", "glow"),
    "pixelcnn": Recipe("PixelCNN++", "pixelcnn"),
    "classifier": Recipe("classifier", "classifier", {"noise_aug": 1.0, "iterations": 1500},
                         caveat="trained on noise-augmented digits, so the noise sets are easier for it than for "
                                "a plain classifier"),
}
POSITIVE = "in-distribution"


@dataclass(frozen=True)
class OODOptions:
    """Options of the ood suite (``--set key=value``; each field's help says what it does)."""

    sets: tuple[str, ...] = option((), help="OOD sets: dataset names or folder:PATH (empty: the defaults for the "
                                            "data)")
    scores: tuple[str, ...] = option(("paper",), help="paper, all, or score names")
    n: int = option(1000, help="images per OOD set (generated, or a seeded subset)")
    n_in: int | None = option(None, help="in-distribution test images (none: the whole test split)")
    bootstrap: int = option(1000, help="bootstrap resamples for the 95% intervals")
    batch_size: int = option(256, help="images per forward pass")
    default_baselines: tuple[str, ...] = option(("glow", "pixelcnn", "classifier"),
                                                help="families trained and cached for the digits when no "
                                                     "--baseline is given")
    histograms: bool = option(True, help="write score histograms per OOD set")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("n", "n_in", "batch_size"), non_negative=("bootstrap",))


@dataclass
class OODPlan:
    """What ``prepare`` resolved (the OOD sets, the data's number of classes) and what the run adds to the
    table's notes and to default baselines' records."""

    sets: dict[str, Any]
    num_classes: int
    notes: list[str] = field(default_factory=list)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # default baseline name -> provenance
    images_in: str = ""  # fingerprints of the scored images, so that compare can pair two runs' scores
    images_out: dict[str, str] = field(default_factory=dict)


class OODSuite(Suite):
    """AUROC / AUPR / FPR@95TPR of OOD scores (energy, likelihood, classifier) per OOD set, with bootstrap CIs."""

    spec = SPEC
    requires = ()
    Options = OODOptions
    uses_baselines = True
    quickstart = ("scores=all", "n=300", "bootstrap=200")

    # ---- before long work --------------------------------------------------------------------------------

    def prepare(self, ctx: SuiteContext) -> OODPlan:
        opts = self.options
        ood_scores.check_names(opts.scores)
        if not ood_scores.scores_for(ctx.model, opts.scores):
            raise EbmbenchError(f"ood: none of the scores {', '.join(opts.scores)} applies to the model under test "
                                f"(it has {ood_scores.describe(ctx.model)}); try scores=all")
        unknown = [f for f in opts.default_baselines if f not in _registered_families()]
        if unknown:
            raise EbmbenchError(f"ood: default_baselines names unknown model families {unknown}")
        plan = OODPlan({}, ctx.load("test").num_classes)
        plan.sets = self._resolve_sets(ctx, plan)
        if not plan.sets:
            raise EbmbenchError("ood: no OOD set could be loaded; name some with --set sets=...")
        return plan

    def _resolve_sets(self, ctx: SuiteContext, plan: OODPlan) -> dict[str, Any]:
        """Load every OOD set; a missing default set is skipped with a warning, a missing named set is an error."""
        named = bool(self.options.sets)
        names = list(self.options.sets) or ood_data.default_sets(ctx.dataset, ctx.model.info.input_shape,
                                                                  plan.num_classes)
        if not named and ood_data.held_out(ctx.dataset, plan.num_classes) is None:
            plan.notes.append("near-OOD (held-out classes) needs models trained on a class subset, e.g. "
                              "`ebmbench train --dataset classes:0-4:digits`; this model was trained on all of "
                              f"{ctx.dataset}, so the near-OOD set is left out")
        sets = {}
        for name in names:
            try:
                sets[name] = ctx.load("test", name, n=self.options.n)
            except DataError as exc:
                if named:
                    raise
                warnings.warn(f"ood: skipping default OOD set {name!r}: {exc}", stacklevel=2)
                plan.notes.append(f"skipped {name}: {exc}")
        return sets

    # ---- the run -----------------------------------------------------------------------------------------

    def run(self, ctx: SuiteContext, ood: OODPlan) -> None:
        models = self._models(ctx, ood)
        plan = {name: ood_scores.scores_for(m, self.options.scores) for name, m in models.items()}
        for name in [n for n, scores in plan.items() if not scores]:
            ood.notes.append(f"{name}: none of the scores {', '.join(self.options.scores)} applies to it (it has "
                             f"{ood_scores.describe(models[name])}), so it is left out")
            del plan[name]
        x_in, _ = ctx.load("test").tensors(self.options.n_in, seed=ctx.seed)
        if self.options.n_in is not None and len(x_in) < self.options.n_in:  # the records carry the real count
            warnings.warn(f"n_in={self.options.n_in} but the {ctx.dataset} test split has {len(x_in)} images; "
                          "using all of them", stacklevel=2)
        in_name = f"{ctx.dataset} (test)"
        if not ctx.is_done("bits_per_dim"):
            ctx.commit("bits_per_dim", self._bpd_records(ctx, ood, models, x_in, in_name))
        scores_in: dict[str, np.ndarray] = {}
        ood.images_in = fingerprint(x_in)
        per_set: dict[str, dict[str, ood_metrics.Estimate]] = {}
        for set_name, imageset in ood.sets.items():
            if not scores_in and not self._finished(ctx, set_name):
                scores_in = self._score(ctx, models, plan, x_in, in_name)
            per_set[set_name] = self._run_set(ctx, ood, models, plan, scores_in, set_name, imageset, in_name)
        if not ctx.is_done("average"):
            ctx.commit("average", self._average_records(ctx, ood, plan, per_set, len(x_in)))
        self._write_table(ctx, ood, in_name, len(x_in))

    def _models(self, ctx: SuiteContext, ood: OODPlan) -> dict[str, Model]:
        """The model under test first, then --baseline models, then default baselines trained on first use."""
        models = {ctx.model_name: ctx.model, **ctx.baselines}
        recipes = [RECIPES.get(f, Recipe(f, f)) for f in self.options.default_baselines]
        for name, default in default_baselines(ctx, recipes, taken=models).items():
            ood.notes.append(default.note())
            ood.defaults[name] = default.provenance()
            models[name] = default.model
        return models

    def _score(self, ctx: SuiteContext, models: dict[str, Model], plan: dict[str, list[str]], x: torch.Tensor,
               set_name: str) -> dict[str, np.ndarray]:
        """``MODEL/SCORE`` -> per-image scores of ``x``; non-finite scores are a one-line error."""
        from tqdm.auto import tqdm

        out = {}
        size = self.options.batch_size
        n_batches = (len(x) + size - 1) // size
        for model_name, names in plan.items():
            parts: dict[str, list[torch.Tensor]] = {n: [] for n in names}
            bar = tqdm(total=n_batches, desc=f"{model_name} on {set_name}", disable=not ctx.progress, leave=False)

            def compute(k: int, model: Model = models[model_name], names: list[str] = names) -> dict:
                batch = x[k * size:(k + 1) * size].to(ctx.device)
                return {n: v.float().cpu() for n, v in ood_scores.score_batch(model, batch, names).items()}

            def sink(_k: int, scores: dict, parts: dict = parts, bar: Any = bar) -> None:
                for name, values in scores.items():
                    parts[name].append(values)
                bar.update()

            distributed.for_each_batch(n_batches, compute, sink)
            bar.close()
            for name, values in parts.items():
                what = f"{model_name} {name} scores on {set_name}"
                out[f"{model_name}/{name}"] = check_finite(torch.cat(values), what).double().numpy()
        return out

    def _run_set(self, ctx: SuiteContext, ood: OODPlan, models: dict[str, Model], plan: dict[str, list[str]],
                 scores_in: dict[str, np.ndarray], set_name: str, imageset: Any,
                 in_name: str) -> dict[str, ood_metrics.Estimate]:
        """Score one OOD set, commit its records and artifacts; a finished set is re-read from its score file."""
        unit, path = f"set:{set_name}", self._scores_path(ctx, set_name)
        if self._finished(ctx, set_name):
            scores_in, scores_out = ood_report.read_scores(path)
        else:
            x_out, _ = imageset.tensors(self.options.n, seed=ctx.seed)
            ood.images_out[set_name] = fingerprint(x_out)
            scores_out = self._score(ctx, models, plan, x_out, set_name)
            ood_report.write_scores(path, set_name, scores_in, scores_out)
        estimates = distributed.on_main(lambda: {
            col: ood_metrics.evaluate(scores_in[col], scores_out[col], self.options.bootstrap,
                                      _seed(ctx.seed, col, "in-distribution"),
                                      seed_out=_seed(ctx.seed, col, set_name)) for col in scores_in})
        if not ctx.is_done(unit):
            n_out = len(next(iter(scores_out.values())))
            ctx.commit(unit, self._set_records(ctx, ood, set_name, estimates, len(next(iter(scores_in.values()))),
                                               n_out, path.relative_to(ctx.run.path).as_posix()))
        if self.options.histograms:  # each model's first (its paper) score, to keep the figure readable
            firsts = {f"{m}/{names[0]}": ood_scores.SCORES[names[0]].label for m, names in plan.items()}
            labels = {c: label for c, label in firsts.items() if c in scores_in}
            ood_report.save_histograms(ctx.run.file(f"hist/{ood_report.safe_name(set_name)}.png"), set_name,
                                       in_name, scores_in, scores_out, labels)
        return estimates

    def _scores_path(self, ctx: SuiteContext, set_name: str) -> Path:
        return ctx.run.file(f"scores/{ood_report.safe_name(set_name)}.csv")

    def _finished(self, ctx: SuiteContext, set_name: str) -> bool:
        """A set committed by an earlier run of this directory, with its score file (re-read, not recomputed)."""
        return ctx.is_done(f"set:{set_name}") and self._scores_path(ctx, set_name).exists()

    # ---- records and the table ---------------------------------------------------------------------------

    def _metric_records(self, ctx: SuiteContext, ood: OODPlan, column: str, eval_set: str,
                        estimates: dict[str, Any], n: int, **extra: Any) -> list[Record]:
        model, score = column.rsplit("/", 1)
        return [self.record(ctx, metric, est.value, eval_set, model=model, ci=est.ci, n=n, score=score,
                            score_label=ood_scores.SCORES[score].label, positive=POSITIVE,
                            bootstrap=self.options.bootstrap, ci_level=0.95, **_provenance(ood, model), **extra)
                for metric, est in estimates.items()]

    def _set_records(self, ctx: SuiteContext, ood: OODPlan, set_name: str, estimates: dict[str, dict], n_in: int,
                     n_out: int, scores_file: str) -> list[Record]:
        near = set_name == ood_data.held_out(ctx.dataset, ood.num_classes)
        records = []
        for column, per_metric in estimates.items():
            records += self._metric_records(ctx, ood, column, set_name, per_metric, n_in + n_out, n_in=n_in,
                                            n_out=n_out, in_distribution=f"{ctx.dataset}:test",
                                            scores_file=scores_file, near_ood=near, images_in=ood.images_in,
                                            images_out=ood.images_out.get(set_name))
        return records

    def _average_records(self, ctx: SuiteContext, ood: OODPlan, plan: dict[str, list[str]],
                         per_set: dict[str, dict[str, dict[str, ood_metrics.Estimate]]], n_in: int) -> list[Record]:
        records = []
        for model_name, names in plan.items():
            for score in names:
                column = f"{model_name}/{score}"
                averaged = {metric: ood_metrics.average([per_set[s][column][metric] for s in per_set])
                            for metric in ood_metrics.METRICS}
                records += self._metric_records(ctx, ood, column, "average", averaged, n_in, sets=list(per_set))
        return records

    def _bpd_records(self, ctx: SuiteContext, ood: OODPlan, models: dict[str, Model], x_in: torch.Tensor,
                     in_name: str) -> list[Record]:
        """Test bits/dim of every likelihood model on the in-distribution test images."""
        from ebmbench.data.base import tensor_set

        data = tensor_set(in_name, "test", x_in, None, 0)
        records = []
        for name, model in models.items():
            if model.has(Capability.LOG_PROB):
                bpd = score_set(model.bits_per_dim, data, ctx.device, self.options.batch_size)
                records.append(self.record(ctx, "bits_per_dim", bpd.mean().item(), f"{ctx.dataset}:test",
                                           model=name, n=len(bpd),
                                           **_provenance(ood, name)))
        return records

    def _write_table(self, ctx: SuiteContext, ood: OODPlan, in_name: str, n_in: int) -> None:
        records = [r for r in ctx.run.records() if r.suite == self.name]
        intro = (f"In-distribution: {md_escape(in_name)}, {n_in} images, the positive class; every score is higher "
                 f"= more in-distribution. Cells: value [95% bootstrap interval, {self.options.bootstrap} stratified "
                 "resamples]. Per-sample scores: scores/\\*.csv; histograms: hist/\\*.png.")
        table = ood_report.markdown_table(records, list(ood.sets), intro, [*ood.notes, *_inverted(records)])
        atomic_write_text(ctx.run.file("ood_table.md"), table)


def _inverted(records: list[Record]) -> list[str]:
    """A note for scores whose AUROC interval lies below 0.5 on a set: there the score ranks the OOD images
    above the data, which is a finding about the model (not a sign error: every score points up)."""
    hits = [f"{r.model} {r.extra.get('score_label', r.extra.get('score'))} on {r.eval_set}" for r in records
            if r.metric == "auroc" and r.eval_set != "average" and r.ci_high is not None and r.ci_high < 0.5]
    if not hits:
        return []
    return [f"AUROC below 0.5 (interval included): the score ranks these OOD images above the in-distribution "
            f"ones, i.e. it points the wrong way for this model there: {'; '.join(hits)}."]


def _provenance(ood: OODPlan, model: str) -> dict[str, Any]:
    """Record fields naming the checkpoint and training settings of a default baseline (the manifest has those
    of the model under test and of --baseline models)."""
    return {"default_baseline": ood.defaults[model]} if model in ood.defaults else {}


def _seed(seed: int, column: str, set_name: str) -> int:
    """A bootstrap seed that depends on the run seed, the model/score and the set, stable across processes."""
    return keyed(seed, column, set_name)


def _registered_families() -> list[str]:
    from ebmbench.registries import MODELS

    return MODELS.names()
