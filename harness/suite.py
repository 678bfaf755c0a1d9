"""The suite contract: what a suite declares, and the context it runs in.

A suite turns (model, data, options) into records committed to a run directory in resumable units. It asks
the model for capabilities; it never branches on a model's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ebmbench.data.base import DataContext, ImageSet, load_dataset
from ebmbench.models.base import Capability, Model
from ebmbench.records import Record
from ebmbench.rundir import RunDir
from ebmbench.spec import SuiteSpec


@dataclass
class SuiteContext:
    """Everything a running suite may use: the model under test, named baselines, data, the run directory."""

    model: Model
    model_name: str
    dataset: str
    run: RunDir
    device: torch.device
    seed: int = 0
    data: DataContext = field(default_factory=DataContext)
    baselines: dict[str, Model] = field(default_factory=dict)
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "ebmbench")
    progress: bool = True
    done: set[str] = field(default_factory=set)
    defaults_too: bool = False  # default baselines even beside --baseline models (the quickstart's JEM)

    def load(self, split: str, name: str | None = None, **overrides: Any) -> ImageSet:
        """A split of ``name`` (default: the model's dataset), conformed to the model's input shape."""
        ctx = DataContext(**{**self.data.__dict__, "shape": self.model.info.input_shape,
                             "reference": self.dataset, "seed": self.seed, **overrides})
        return load_dataset(name or self.dataset, split, ctx)

    def is_done(self, unit: str) -> bool:
        return unit in self.done

    def commit(self, unit: str, records: Iterable[Record]) -> None:
        """Commit one unit's records atomically; a resumed run skips it."""
        self.run.commit(unit, records)
        self.done.add(unit)


class Suite:
    """Base class. Subclasses set ``spec`` (name, version, description, metrics and headline come from it),
    ``Options`` and ``requires``, and implement the lifecycle: ``plan = prepare(ctx)`` validates and resolves
    everything before long work starts, then ``run(ctx, plan)`` computes and commits (ARCHITECTURE.md)."""

    spec: ClassVar[SuiteSpec | None] = None
    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[Capability, ...]] = ()
    Options: ClassVar[type]
    headline: ClassVar[str] = ""
    quickstart: ClassVar[tuple[str, ...]] = ()  # ``--set`` pairs the quickstart runs this suite with
    uses_baselines: ClassVar[bool] = False  # whether --baseline models take part (refused otherwise)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.spec is not None:  # the spec is the one place these facts are declared
            cls.name, cls.version, cls.description = cls.spec.name, cls.spec.version, cls.spec.description
            cls.headline = cls.spec.headline

    def __init__(self, options: Any) -> None:
        self.options = options

    def prepare(self, ctx: SuiteContext) -> Any:
        """Validate inputs and resolve what ``run`` needs (raise EbmbenchError), before any long work and before
        the run directory is opened; the returned plan is handed to ``run``. Default: no plan."""
        return None

    def run(self, ctx: SuiteContext, plan: Any) -> None:
        """Compute and commit records in units, skipping those ``ctx.is_done``."""
        raise NotImplementedError

    def health_probe(self, ctx: SuiteContext, plan: Any) -> Any:
        """The Langevin chains the model-health checks run (``ebmbench.health.ChainProbe``), or None for no chain
        checks. Default: the shared sampler's default settings from uniform noise, for any model with an energy."""
        from ebmbench.health import ChainProbe
        from ebmbench.sampler import LangevinConfig

        if not ctx.model.has(Capability.ENERGY):
            return None
        return ChainProbe(LangevinConfig(clamp=tuple(ctx.model.info.value_range)))

    def record(self, ctx: SuiteContext, metric: str, value: float, eval_set: str, *, model: str | None = None,
               higher_is_better: bool | None = None, ci: tuple[float, float] | None = None, n: int | None = None,
               **extra: Any) -> Record:
        """A record stamped with this suite, its version, the model, dataset and seed; the direction of better
        comes from the spec, which must declare the metric (a suite without a spec passes it)."""
        higher_is_better = self._direction(metric, higher_is_better)
        return Record(suite=self.name, suite_version=self.version, model=model or ctx.model_name,
                      dataset=ctx.dataset, eval_set=eval_set, metric=metric, value=float(value),
                      ci_low=None if ci is None else float(ci[0]), ci_high=None if ci is None else float(ci[1]),
                      n=n, seed=ctx.seed, higher_is_better=higher_is_better, extra=extra)

    def _direction(self, metric: str, given: bool | None) -> bool | None:
        if self.spec is None:
            return given
        declared = self.spec.metric(metric)
        if declared is None:
            raise ValueError(f"suite {self.name!r} records metric {metric!r}, which its spec does not declare")
        if given is not None and given != declared.higher_is_better:
            raise ValueError(f"suite {self.name!r}: metric {metric!r} recorded with higher_is_better={given}, but "
                             f"its spec says {declared.higher_is_better}")
        return declared.higher_is_better
