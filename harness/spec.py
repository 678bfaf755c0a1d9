"""What a suite declares once about its numbers (its spec), read by everything that shows or judges them.

A suite's ``spec.py`` holds one ``SuiteSpec``: name, version, its metrics (direction of better, how seeds
combine, the tolerance ``ebmbench compare`` allows, display name), its headline metric, and the ``extra``
keys that qualify a number (a FID at 10 steps is not a FID at 80 steps). The summary, the reports, the paper
tables, the tolerances and compare read specs through ``ebmbench.registries.suite_spec``; nothing else
repeats these facts. This module never imports torch, so reading a spec stays cheap (see ARCHITECTURE.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ebmbench.layout import Layout

AGGREGATIONS: tuple[str, ...] = ("mean", "median")


@dataclass(frozen=True)
class Tolerance:
    """Allowed worsening in ``ebmbench compare``: ``abs`` in the metric's units, ``rel`` as a fraction of the
    baseline value; ``ignore``: reported, never gated."""

    abs: float = 0.0
    rel: float = 0.0
    ignore: bool = False

    def allowed(self, baseline: float) -> float:
        """The largest worsening from ``baseline`` that is still not a regression."""
        return max(self.abs, self.rel * abs(baseline))


DEFAULT_TOLERANCE = Tolerance(rel=0.05)  # for suites that declare none, and records of unknown suites


@dataclass(frozen=True)
class Metric:
    """One metric of a suite.

    ``higher_is_better``: direction of better (None: no direction, e.g. a mean energy; shown, never judged).
    ``display``: its name in tables and paper layouts (default: the metric's name).
    ``aggregation``: how values of several seeds combine (``mean`` or ``median``) in reports and compare.
    ``tolerance``: this metric's own allowance in compare (default: the suite's).
    """

    name: str
    higher_is_better: bool | None
    display: str = ""
    aggregation: Literal["mean", "median"] = "mean"
    tolerance: Tolerance | None = None

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"metric {self.name!r}: aggregation must be one of {', '.join(AGGREGATIONS)}")

    @property
    def label(self) -> str:
        return self.display or self.name

    def aggregate(self, values: Sequence[float]) -> float:
        """The combined value of several seeds' values."""
        return statistics.fmean(values) if self.aggregation == "mean" else float(statistics.median(values))


@dataclass(frozen=True)
class Qualifier:
    """An ``extra`` key that changes what a number means.

    ``place``: ``row`` (reports give each value its own row, e.g. steps, ε), ``column`` (it belongs to the
    model's column, e.g. the OOD score), or ``setting`` (shown beside the number in the summary only).
    ``must_agree``: in compare a difference makes the pair "not comparable" (e.g. the feature extractor)
    instead of two different measurements.
    """

    key: str
    label: str = ""
    place: Literal["row", "column", "setting"] = "row"
    must_agree: bool = False

    def __post_init__(self) -> None:
        if self.must_agree and self.place == "setting":
            raise ValueError(f"qualifier {self.key!r}: must_agree needs place 'row' or 'column' (compare matches "
                             "records on the keys that reports' tables carry; a 'setting' is shown only)")

    @property
    def header(self) -> str:
        return self.label or self.key


@dataclass(frozen=True)
class SuiteSpec:
    """A suite's declared facts; ``implementation`` is the ``"module:Class"`` of its Suite (imported only to
    run it)."""

    name: str
    version: str
    description: str
    metrics: tuple[Metric, ...]
    headline: str
    qualifiers: tuple[Qualifier, ...] = ()
    tolerance: Tolerance = DEFAULT_TOLERANCE
    implementation: str = ""
    layouts: tuple[Layout, ...] = ()  # paper tables of the reports (ebmbench.layout); none: one generic table
    # "module:function" that recomputes the metrics from per-sample scores under bootstrap weights,
    # f(scores_in, scores_out, weights_in, weights_out) -> {metric: replicates}, for compare's paired tests on
    # the files records name in extra.scores_file (imported only then)
    resample: str = ""
    _by_name: dict[str, Metric] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"suite {self.name!r} declares a metric twice")
        if self.headline not in names:
            raise ValueError(f"suite {self.name!r}: headline {self.headline!r} is not one of its metrics")
        object.__setattr__(self, "_by_name", {m.name: m for m in self.metrics})

    def metric(self, name: str) -> Metric | None:
        """The declared metric ``name`` (None when the suite does not declare it); every suite also has the
        model-health metrics (``HEALTH_METRICS``), which the runner records for it."""
        return self._by_name.get(name) or HEALTH_BY_NAME.get(name)

    def tolerance_for(self, metric: str) -> Tolerance:
        """The metric's own tolerance, else the suite's."""
        declared = self.metric(metric)
        return declared.tolerance if declared is not None and declared.tolerance is not None else self.tolerance

    def qualifier_keys(self, place: str | None = None) -> tuple[str, ...]:
        """The qualifying ``extra`` keys, in declared order (those of one ``place`` if given)."""
        return tuple(q.key for q in self.qualifiers if place is None or q.place == place)


# The model-health checks (ebmbench.health) the runner applies to every suite's model under test, recorded as
# ``health_CHECK`` (1 = fired, 0 = passed): every suite has these metrics without declaring them.
HEALTH_CHECKS: tuple[str, ...] = ("flat_energy", "uniform_labels", "chain_static", "chain_diverge", "chain_clamp")
HEALTH_METRICS: tuple[Metric, ...] = tuple(Metric(f"health_{c}", False, f"model-health check {c} fired")
                                           for c in HEALTH_CHECKS)
HEALTH_BY_NAME: dict[str, Metric] = {m.name: m for m in HEALTH_METRICS}
