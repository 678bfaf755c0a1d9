"""Suite ``quality``: IS, FID, KID and precision/recall of Langevin samples, and quality against sampling steps.

Samples are drawn with the shared Langevin sampler (fresh chains from noise, or the reference paper's replay-
buffer protocol; class-balanced for conditional models), quantised to uint8 and streamed batch by batch into a
feature extractor (``digits-cnn`` for the digits, ``inception-v3-compat`` otherwise); the metrics are
torch-fidelity's functions on those features, against the dataset's reference split (or a statistics file).
Reference rows for the held-out real split and for uniform noise give every table its floor and ceiling.
Every row names its extractor and the extractor weights' SHA-256.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from ebmbench import distributed
from ebmbench.data.base import DataContext, ImageSet, load_dataset
from ebmbench.errors import EbmbenchError
from ebmbench.extractors.base import METRICS, Extractor, make_extractor, to_uint8
from ebmbench.models.base import Capability
from ebmbench.options import check_ranges, option
from ebmbench.records import Record
from ebmbench.sampler import LangevinOptions
from ebmbench.suite import Suite, SuiteContext
from ebmbench.suites.quality.metrics import (
    FeatureCollector,
    MetricSettings,
    Reference,
    compute_metrics,
    extract,
    load_stats,
    read_stats_header,
)
from ebmbench.suites.quality.plots import energy_trace, quality_vs_steps, sample_grid
from ebmbench.suites.quality.sampling import EnergyTrace, SamplingPlan, draw_unit, units
from ebmbench.suites.quality.spec import SPEC
from ebmbench.suites.quality.store import (
    FeatureCache,
    MetricCache,
    SampleCache,
    SampleFile,
    model_digest,
    read_samples,
    tensor_digest,
)

KID_SUBSET_SIZE = 1000  # torch-fidelity's default, lowered to the smallest set when that is smaller
LARGE_SET = 10_000  # held-out splits at least this big are CIFAR-class: the default N is then 50 000


@dataclass(frozen=True)
class QualityOptions:
    """Options of the quality suite (``--set key=value``; each field's help says what it does)."""

    n: int | None = option(None, help="samples per step budget (none: the held-out split's size, or 50 000 when "
                                      "that has 10 000 or more)")
    steps: tuple[int, ...] = option((60,), help="Langevin steps per chain run; several (0,10,20) give quality "
                                                "against steps")
    protocol: Literal["noise", "buffer"] = option("noise", help="noise: fresh chains from uniform noise; buffer: "
                                                                "the paper's replay-buffer evaluation protocol")
    sampler: LangevinOptions = option(factory=LangevinOptions, help="the Langevin update")
    rounds: int = option(10, help="buffer protocol: passes over each buffer")
    reinit: float = option(0.01, help="buffer protocol: fraction of chains restarted from noise between passes")
    buffer_size: int = option(1000, help="buffer protocol: chains per buffer")
    buffer_start: Literal["noise", "stored"] = option("noise", help="buffer protocol: chains start from noise, or "
                                                                    "(stored) from the replay buffer the "
                                                                    "checkpoint carries")
    batch_size: int = option(128, help="chains per batch")
    precision: Literal["float32", "bfloat16"] = option("float32", help="the network's precision while sampling: "
                                                                        "bfloat16 runs it under autocast, the "
                                                                        "chains' state and update stay float32 "
                                                                        "(for GPUs with bf16 units)")
    compile: bool = option(False, help="torch.compile the energy for sampling (compiled once per model)")
    extractor: str | None = option(None, help="digits-cnn or inception-v3-compat (none: digits-cnn on 1x8x8 "
                                              "data, else Inception)")
    inception_weights: str | None = option(None, help="path of torch-fidelity's Inception weights (none: "
                                                      "torch-fidelity's or ebmbench's cache; fetched once, "
                                                      "SHA-256 checked, only with --download)")
    metrics: tuple[str, ...] = option(METRICS, help="any of isc, fid, kid, prc")
    isc_splits: int = option(10, help="Inception Score splits")
    kid_subsets: int = option(100, help="KID subsets")
    kid_subset_size: int | None = option(None, help="KID subset size (none: min(1000, smallest set))")
    reference_split: str = option("train", help="split the samples are compared with (FID reference)")
    heldout_split: str = option("test", help="split scored as the real-data reference row")
    reference_stats: str | None = option(None, help="a file from `ebmbench stats` used instead of the reference "
                                                    "split")
    reference_rows: bool = option(True, help="also score the held-out split and uniform noise (floor and ceiling)")
    noise_n: int | None = option(None, help="uniform-noise images of the reference row (none: the held-out size)")
    cache: bool = option(True, help="reuse samples and reference features from the content-keyed cache")
    seeds: int = option(1, help="draw each step budget's samples with this many seeds (seed, seed + 1, ...) and "
                                "report each metric's mean with a Student-t 95% interval over them")

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ValueError(f"metrics must be some of {', '.join(METRICS)}, not {','.join(self.metrics) or '-'}")
        if not self.steps or min(self.steps) < 0 or len(set(self.steps)) != len(self.steps):
            raise ValueError("steps must be distinct non-negative integers, e.g. steps=0,10,20,40,80")
        for key in ("n", "noise_n", "kid_subset_size"):
            if getattr(self, key) is not None and getattr(self, key) < 2:
                raise ValueError(f"{key} must be at least 2")
        check_ranges(self, at_least_one=("batch_size", "buffer_size", "isc_splits", "kid_subsets", "seeds"),
                     non_negative=("rounds",))
        if not 0 <= self.reinit <= 1:
            raise ValueError("reinit must lie in [0, 1]")


@dataclass
class Setup:
    """The plan: everything ``prepare`` resolved, so that ``run`` starts from validated facts."""

    extractor: Extractor
    n: int
    noise_n: int
    sizes: dict[str, int]
    kid_samples: int
    kid_rows: int
    reference_stats: Path | None = None
    timings: dict[str, Any] = field(default_factory=dict)


class QualitySuite(Suite):
    """Sample quality of an EBM's Langevin samples: IS, FID, KID, precision/recall, against steps."""

    spec = SPEC
    requires = (Capability.ENERGY, Capability.SAMPLE)
    Options = QualityOptions
    quickstart = ("steps=0,10,20,40,60,80",)

    # ---- checks before any long work --------------------------------------------------------------------------
    def prepare(self, ctx: SuiteContext) -> Setup:
        """Shapes, extractor and its weights, set sizes against KID's subset size and IS's splits, stats file."""
        opts, info = self.options, ctx.model.info
        if info.conditional and info.num_classes < 1:
            raise EbmbenchError("a conditional model must declare its number of classes")
        if opts.buffer_start == "stored" and opts.protocol != "buffer":
            raise EbmbenchError("buffer_start=stored goes with protocol=buffer")
        if opts.buffer_start == "stored" and ctx.model.stored_samples is None:
            raise EbmbenchError("buffer_start=stored needs a checkpoint that carries a replay buffer (ebmbench's "
                                "trained EBMs and JEMs, or `ebmbench import jem`); this model has none")
        heldout = _raw(ctx, opts.heldout_split)
        _check_shape(ctx, heldout)
        extractor = make_extractor(self._extractor_name(info.input_shape), opts.inception_weights,
                                   ctx.data.download, ctx.cache_dir)
        extractor.weights_path()
        extractor.check_input(tuple(info.input_shape))
        sizes = {"heldout": len(heldout), "reference": self._reference_size(ctx, extractor)}
        n = opts.n or (len(heldout) if len(heldout) < LARGE_SET else 50_000)
        noise_n = opts.noise_n or len(heldout)
        kid_samples, kid_rows = self._kid_sizes(n, noise_n, sizes)
        self._check_isc(n, noise_n, sizes)
        return Setup(extractor, n, noise_n, sizes, kid_samples, kid_rows,
                     Path(opts.reference_stats).expanduser() if opts.reference_stats else None)

    def _extractor_name(self, shape: tuple[int, ...]) -> str:
        if self.options.extractor:
            return self.options.extractor
        if self.options.inception_weights is None and tuple(shape) == (1, 8, 8):
            return "digits-cnn"
        return "inception-v3-compat"

    def _reference_size(self, ctx: SuiteContext, extractor: Extractor) -> int:
        if not self.options.reference_stats:
            return len(_raw(ctx, self.options.reference_split))
        path = Path(self.options.reference_stats).expanduser()
        header = read_stats_header(path)
        want = extractor.describe()
        got = {k: header.get(k) for k in ("extractor", "extractor_sha256")}
        if got != {k: want[k] for k in got}:
            raise EbmbenchError(f"{path} was written with extractor {got['extractor']} "
                                f"({str(got['extractor_sha256'])[:12]}), but this run uses {want['extractor']} "
                                f"({want['extractor_sha256'][:12]}); write matching statistics with `ebmbench stats`")
        if header.get("dataset") != ctx.dataset or tuple(header.get("shape", ())) != tuple(ctx.model.info.input_shape):
            raise EbmbenchError(f"{path} holds statistics of {header.get('dataset')} "
                                f"{tuple(header.get('shape', ()))}, but the model is a {ctx.dataset} model of shape "
                                f"{tuple(ctx.model.info.input_shape)}")
        if not header["has_features"] and {"kid", "prc"} & set(self.options.metrics):
            raise EbmbenchError(f"{path} holds only FID statistics; KID and precision/recall need the features: "
                                "write it without --no-features, or pass --set metrics=isc,fid")
        return int(header["n"])

    def _kid_sizes(self, n: int, noise_n: int, sizes: dict[str, int]) -> tuple[int, int]:
        """KID's subset size for the sample rows and for the reference rows (each at most its smallest set)."""
        ref = {f"reference split ({self.options.reference_split})": sizes["reference"]}
        sample_sets = {"samples (n)": n, **ref}
        row_sets = ({f"held-out split ({self.options.heldout_split})": sizes["heldout"], "noise_n": noise_n, **ref}
                    if self.options.reference_rows else {})
        wanted = self.options.kid_subset_size
        if "kid" in self.options.metrics and wanted is not None:
            name, smallest = min({**sample_sets, **row_sets}.items(), key=lambda kv: kv[1])
            if wanted > smallest:
                raise EbmbenchError(f"kid_subset_size={wanted} is larger than the {name} with {smallest} images; "
                                    f"lower kid_subset_size or use more images")
        size = wanted or KID_SUBSET_SIZE
        return min(size, *sample_sets.values()), min(size, *(row_sets.values() or [size]))

    def _check_isc(self, n: int, noise_n: int, sizes: dict[str, int]) -> None:
        smallest = min(n, noise_n, sizes["heldout"]) if self.options.reference_rows else n
        if "isc" in self.options.metrics and self.options.isc_splits > smallest:
            raise EbmbenchError(f"isc_splits={self.options.isc_splits} needs at least that many images per set, "
                                f"but one set has {smallest}; lower isc_splits or raise n")

    # ---- the run ---------------------------------------------------------------------------------------------
    def health_probe(self, ctx: SuiteContext, plan: Any) -> Any:
        """The model-health chains: this suite's sampler settings from noise, for its longest step budget."""
        from ebmbench.health import ChainProbe

        steps = max(self.options.steps)
        if steps == 0:
            return None
        return ChainProbe(self.options.sampler.chain(steps, clamp=tuple(ctx.model.info.value_range)))

    def run(self, ctx: SuiteContext, setup: Setup) -> None:
        budgets = [s for s in self.options.steps if not ctx.is_done(f"samples@{s}")]
        rows_needed = self.options.reference_rows and not ctx.is_done("reference")
        if budgets or rows_needed:  # a finished run that is resumed only redraws its figures
            module = setup.extractor.build(self.options.metrics, ctx.device)
            reference = self._reference(ctx, setup, module)
            if rows_needed:
                ctx.commit("reference", self._reference_rows(ctx, setup, module, reference))
            for steps in budgets:
                ctx.commit(f"samples@{steps}", self._sample_rows(ctx, setup, module, reference, steps))
        self._plots(ctx, setup)

    def _settings(self, ctx: SuiteContext, kid_subset_size: int) -> MetricSettings:
        return MetricSettings(isc_splits=self.options.isc_splits, kid_subsets=self.options.kid_subsets,
                              kid_subset_size=kid_subset_size, rng_seed=ctx.seed)

    def _reference(self, ctx: SuiteContext, setup: Setup, module: Any) -> Reference:
        """The reference statistics: from the given file, or features of the reference split (cached)."""
        if setup.reference_stats is not None:
            return load_stats(setup.reference_stats)
        data = ctx.load(self.options.reference_split)
        tic = time.perf_counter()
        features = self._features(ctx, setup, module, _images_uint8(data))
        setup.timings["reference_features_s"] = time.perf_counter() - tic
        return Reference.from_features(features, setup.extractor.layers,
                                       {"dataset": ctx.dataset, "split": self.options.reference_split})

    def _features(self, ctx: SuiteContext, setup: Setup, module: Any, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of fixed images, from the content-keyed cache when allowed."""
        layers = sorted({setup.extractor.layers[m] for m in self.options.metrics})
        key = {"kind": "features", "images_sha256": tensor_digest(images), **setup.extractor.describe(),
               **_versions(), "device": ctx.device.type, "requested": layers}
        cache = FeatureCache(ctx.cache_dir / "quality")
        cached = cache.get(key) if self.options.cache else None
        if distributed.all_true(cached is not None):  # every process found it, or all extract together
            return cached
        features = extract(setup.extractor, module, images, ctx.device)
        if self.options.cache and distributed.is_main():
            cache.put(key, features)
        return features

    def _reference_rows(self, ctx: SuiteContext, setup: Setup, module: Any, reference: Reference) -> list[Record]:
        sets = {f"real:{self.options.heldout_split}": ctx.load(self.options.heldout_split),
                "uniform": ctx.load("test", "uniform", n=setup.noise_n)}
        records = []
        for eval_set, data in sets.items():
            features = self._features(ctx, setup, module, _images_uint8(data))
            values = distributed.on_main(lambda features=features: self._row_metrics(ctx, setup, features,
                                                                                     reference))
            records += self._records(ctx, setup, eval_set, values, len(data), {"kid_subset_size": setup.kid_rows})
        return records

    def _row_metrics(self, ctx: SuiteContext, setup: Setup, features: dict[str, torch.Tensor],
                     reference: Reference) -> dict[str, float]:
        """A reference row's metrics, from the content-keyed cache when allowed (they do not depend on the
        model: the key is the features, the reference and the settings)."""
        settings = self._settings(ctx, setup.kid_rows)
        ref = [torch.from_numpy(np.ascontiguousarray(reference.mu)), torch.from_numpy(
            np.ascontiguousarray(reference.sigma))] + ([reference.features] if reference.features is not None else [])
        key = {"kind": "reference-row-metrics", "features": tensor_digest(*(features[k] for k in sorted(features))),
               "reference": tensor_digest(*ref), "metrics": list(self.options.metrics),
               "layers": setup.extractor.layers, "settings": asdict(settings), **_versions()}
        cache = MetricCache(ctx.cache_dir / "quality")
        values = cache.get(key) if self.options.cache else None
        if values is None:
            values = compute_metrics(features, reference, self.options.metrics, setup.extractor.layers, settings)
            if self.options.cache:
                cache.put(key, values)
        return values

    def _plan(self, setup: Setup, steps: int) -> SamplingPlan:
        o = self.options
        return SamplingPlan(n=setup.n, steps=steps, protocol=o.protocol, sampler=o.sampler, batch_size=o.batch_size,
                            rounds=o.rounds, reinit=o.reinit, buffer_size=o.buffer_size, buffer_start=o.buffer_start,
                            precision=o.precision, compile=o.compile)

    def _sample_rows(self, ctx: SuiteContext, setup: Setup, module: Any, reference: Reference,
                     steps: int) -> list[Record]:
        """One budget's records: scored samples of every seed, averaged with a t interval when several."""
        plan = self._plan(setup, steps)
        per_seed = [self._score_seed(ctx, setup, module, reference, plan, ctx.seed + i)
                    for i in range(self.options.seeds)]
        extra = {"steps": steps, "protocol": plan.protocol, "chain_steps": plan.chain_steps(),
                 "step_size": plan.sampler.step_size, "noise": plan.sampler.noise,
                 "grad_clip": plan.sampler.grad_clip,
                 "kid_subset_size": setup.kid_samples, "samples_file": f"samples/steps-{steps}.npy"}
        if plan.protocol == "buffer":
            extra.update(rounds=plan.rounds, reinit=plan.reinit, buffer_size=plan.buffer_size,
                         buffer_start=plan.buffer_start)
        extra.update(_levers(plan))
        if len(per_seed) == 1:
            return self._records(ctx, setup, "samples", per_seed[0], plan.n, extra)
        return self._seed_records(ctx, setup, per_seed, plan.n, extra)

    def _seed_records(self, ctx: SuiteContext, setup: Setup, per_seed: list[dict[str, float]], n: int,
                      extra: dict[str, Any]) -> list[Record]:
        """Each metric's mean over seeds with its Student-t 95% interval; the per-seed values in ``extra``."""
        from ebmbench.intervals import t_interval

        means, intervals = {}, {}
        for metric in per_seed[0]:
            mean, low, high = t_interval([values[metric] for values in per_seed])
            means[metric], intervals[metric] = mean, (low, high)
        seeds = [ctx.seed + i for i in range(len(per_seed))]
        return [replace(r, ci_low=intervals[r.metric][0], ci_high=intervals[r.metric][1],
                        extra={**r.extra, "seeds": seeds, "per_seed": [v[r.metric] for v in per_seed],
                               "interval": "student-t over seeds"})
                for r in self._records(ctx, setup, "samples", means, n, extra)]

    def _score_seed(self, ctx: SuiteContext, setup: Setup, module: Any, reference: Reference, plan: SamplingPlan,
                    seed: int) -> dict[str, float]:
        """Draw (or reuse) one seed's samples, stream them through the extractor, score them."""
        steps = plan.steps
        collector = FeatureCollector(setup.extractor, module, ctx.device)
        suffix = "" if seed == ctx.seed else f"-seed{seed}"
        path = ctx.run.file(f"samples/steps-{steps}{suffix}.npy")
        key = {"kind": "samples", **_versions(), "model": model_digest(ctx.model), "n": plan.n, "seed": seed,
               "stored": _stored_digest(ctx.model) if plan.buffer_start == "stored" else None,
               "plan": _plan_key(plan), "device": ctx.device.type, "dataset": ctx.dataset}
        cache = SampleCache(ctx.cache_dir / "quality")
        tic = time.perf_counter()
        trace = cache.get(key, path) if self.options.cache else None
        if not distributed.all_true(trace is not None):
            trace = self._draw(ctx, plan, collector, path, seed)
            if self.options.cache and distributed.is_main():
                cache.put(key, path, trace)
        else:
            images, _ = read_samples(path)
            for start in range(0, len(images), 1024):
                collector.add(torch.from_numpy(np.array(images[start:start + 1024])))
        total = time.perf_counter() - tic
        _write_json(ctx.run.file(f"traces/steps-{steps}{suffix}.json"), trace)
        tic = time.perf_counter()
        values = distributed.on_main(lambda: compute_metrics(
            collector.features(), reference, self.options.metrics, setup.extractor.layers,
            self._settings(ctx, setup.kid_samples)))
        setup.timings[f"steps-{steps}{suffix}"] = {"n": plan.n, "sampling_s": total - collector.seconds,
                                                   "features_s": collector.seconds,
                                                   "metrics_s": time.perf_counter() - tic}
        _write_json(ctx.run.file("timings.json"), setup.timings)
        return values

    def _draw(self, ctx: SuiteContext, plan: SamplingPlan, collector: FeatureCollector, path: Path,
              seed: int) -> dict:
        """Sample into ``path`` (uint8, unit by unit) while the collector extracts features.

        Under torchrun every process draws and extracts its share of the units; each round's results are
        gathered and written in global order, so only one round of samples is ever held in memory.
        """
        info = ctx.model.info
        out = SampleFile(path, plan.n, tuple(info.input_shape), info.conditional)
        bar = tqdm(total=plan.n, desc=f"quality: sampling {plan.steps} steps", disable=not ctx.progress,
                   leave=False)
        trace = EnergyTrace()

        def compute(unit: int) -> tuple[list, EnergyTrace]:
            batches, part = draw_unit(ctx.model, plan, ctx.device, seed, unit)
            done = []
            for x, y in batches:
                images = to_uint8(x, info.value_range).cpu()
                done.append((images, None if y is None else y.cpu(), collector.extract(images)))
            return done, part

        def sink(_unit: int, result: tuple[list, EnergyTrace]) -> None:
            for images, y, features in result[0]:
                out.write(images, y)
                collector.append(features)
                bar.update(len(images))
            trace.merge(result[1])

        try:
            distributed.for_each_batch(units(plan), compute, sink)
        finally:
            bar.close()
        out.close()
        return trace.summary()

    def _records(self, ctx: SuiteContext, setup: Setup, eval_set: str, values: dict[str, float], n: int,
                 extra: dict[str, Any]) -> list[Record]:
        common = {**setup.extractor.describe(), **extra, "n_reference": setup.sizes["reference"],
                  "reference": (f"stats:{setup.reference_stats.name}" if setup.reference_stats
                                else f"{ctx.dataset}:{self.options.reference_split}")}
        common.pop("layers")
        spreads = {"inception_score": "inception_score_std", "kid": "kid_std"}
        records = []
        for metric in [m.name for m in SPEC.metrics if m.name in values]:
            more = {"std": values[spreads[metric]]} if metric in spreads else {}
            records.append(self.record(ctx, metric, values[metric], eval_set, n=n, **common, **more))
        return records

    # ---- artifacts -------------------------------------------------------------------------------------------
    def _plots(self, ctx: SuiteContext, setup: Setup) -> None:
        last = self.options.steps[-1]
        images, labels = read_samples(ctx.run.file(f"samples/steps-{last}.npy"))
        sample_grid(images, labels, ctx.run.file("samples.png"))
        traces = {s: json.loads(ctx.run.file(f"traces/steps-{s}.json").read_text()) for s in self.options.steps
                  if ctx.run.file(f"traces/steps-{s}.json").is_file()}
        title = f"{ctx.model_name} on {ctx.dataset} ({self.options.protocol} protocol)"
        unit = "steps per pass" if self.options.protocol == "buffer" else "steps"
        energy_trace(traces, ctx.run.file("energy_trace.png"), title, unit)
        if len(self.options.steps) > 1:
            quality_vs_steps(ctx.run.records(), ctx.run.file("quality_vs_steps.png"), setup.extractor.name, title)


def _versions() -> dict[str, str]:
    """Code versions that change samples or features: part of every cache key."""
    import torch_fidelity

    from ebmbench import __version__

    return {"ebmbench": __version__, "suite_version": QualitySuite.version, "torch": torch.__version__,
            "torch_fidelity": torch_fidelity.__version__}


def _raw(ctx: SuiteContext, split: str) -> ImageSet:
    """A split of the model's dataset exactly as stored (not conformed to the model's shape)."""
    return load_dataset(ctx.dataset, split, DataContext(root=ctx.data.root, download=ctx.data.download,
                                                        seed=ctx.seed))


def _check_shape(ctx: SuiteContext, data: ImageSet) -> None:
    model_shape = tuple(ctx.model.info.input_shape)
    if tuple(data.shape) != model_shape:
        raise EbmbenchError(f"the checkpoint takes {'x'.join(map(str, model_shape))} images but {ctx.dataset} has "
                            f"{'x'.join(map(str, data.shape))}; sample quality is measured only against the data "
                            "the model was trained on, at its own shape")


def _images_uint8(data: ImageSet) -> torch.Tensor:
    """All images of a set as one uint8 tensor (the same quantisation as the samples)."""
    parts = [to_uint8(x, data.value_range) for x, _ in data.loader(1024)]
    return torch.cat(parts)


def _write_json(path: Path, obj: Any) -> None:
    from ebmbench.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=float) + "\n")


def _stored_digest(model: Any) -> str:
    """A content hash of the replay buffer a model carries (part of the sample cache's key)."""
    import hashlib

    return hashlib.sha256(model.stored_samples.contiguous().numpy().tobytes()).hexdigest()


def _levers(plan: SamplingPlan) -> dict[str, Any]:
    """The sampling levers that change float results, where they differ from the default (float32, eager): so
    records and cache keys of default runs stay what they were before the levers existed."""
    levers = {"precision": plan.precision, "compile": plan.compile}
    return {k: v for k, v in levers.items() if v != SamplingPlan.__dataclass_fields__[k].default}


def _plan_key(plan: SamplingPlan) -> dict[str, Any]:
    """The plan as a cache key: every field, the levers only when set."""
    key = {k: v for k, v in asdict(plan).items() if k not in ("precision", "compile")}
    return {**key, **_levers(plan)}
