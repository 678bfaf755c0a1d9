"""What reports know about metrics and metadata, read from the suites' specs (``ebmbench.spec``) through the
registry: direction of "better", headline metrics, display names, and which ``extra`` fields change the
meaning of a number. Specs are torch-free, so reports stay fast; a record's own ``higher_is_better`` always
wins, and records of a suite unknown here fall back to what the known suites declare.
"""

from __future__ import annotations

from ebmbench.numbers import is_nan
from ebmbench.registries import suite_spec, suite_specs
from ebmbench.spec import Metric

# Record fields (besides the qualifiers that must agree) that must match before two numbers are compared.
RECORD_COMPARABILITY: tuple[str, ...] = ("suite_version", "dataset")


def _union(place: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(key for spec in suite_specs() for key in spec.qualifier_keys(place)))


def row_meta() -> tuple[str, ...]:
    """Qualifiers that give a value its own table row (a FID at 10 steps is not a FID at 80 steps)."""
    return _union("row")


def column_meta() -> tuple[str, ...]:
    """Qualifiers that belong to a model's column (an EBM scored by -E(x))."""
    return _union("column")


def meta() -> tuple[str, ...]:
    """Every qualifier reports keep as a column of their frames: row, then column qualifiers."""
    return row_meta() + column_meta()


def comparability() -> tuple[str, ...]:
    """Fields that must agree before a baseline and a candidate number may be compared."""
    agree = dict.fromkeys(q.key for spec in suite_specs() for q in spec.qualifiers if q.must_agree)
    return (*RECORD_COMPARABILITY, *agree)


def meta_label(key: str) -> str:
    """A qualifier's header in tables (ε for epsilon)."""
    for spec in suite_specs():
        for q in spec.qualifiers:
            if q.key == key:
                return q.header
    return key


def declared(suite: str, metric: str) -> Metric | None:
    """The suite's declaration of ``metric``; for a suite unknown here, the one declaration of that metric
    name among the known suites (None when there is none, or several that disagree)."""
    spec = suite_spec(suite)
    if spec is not None:
        return spec.metric(metric)
    found = {m for s in suite_specs() if (m := s.metric(metric)) is not None}
    return found.pop() if len({m.higher_is_better for m in found}) == 1 else None


def direction(suite: str, metric: str, higher_is_better: bool | None) -> bool | None:
    """The record's own direction if it has one, else the declared one, else None."""
    if higher_is_better is not None and not is_nan(higher_is_better):
        return bool(higher_is_better)
    known = declared(suite, metric)
    return None if known is None else known.higher_is_better


def arrow(higher_is_better: bool | None) -> str:
    """↑ for higher-is-better, ↓ for lower-is-better, nothing when a metric has no direction."""
    if higher_is_better is None:
        return ""
    return "↑" if higher_is_better else "↓"


def headline(suite: str) -> str | None:
    """The suite's headline metric (None for a suite unknown here)."""
    spec = suite_spec(suite)
    return spec.headline if spec is not None else None


def meta_text(value: object) -> str:
    """A metadata value as table text (floats compactly, missing as empty)."""
    if value is None or is_nan(value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
