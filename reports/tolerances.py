"""How much worse a metric may get before ``ebmbench compare`` calls it a regression.

A tolerance allows a worsening of ``max(abs, rel * |baseline|)``. The defaults are declared in each suite's spec
(``ebmbench.spec``: the suite's, or a metric's own; OOD and robustness numbers live in [0, 1], so an absolute
allowance fits them; FID, IS and energies scale with the data, so a relative one fits them). A TOML file
overrides any part, most specific last::

    ["*"]              # every suite
    rel = 0.05
    [ood]              # one suite
    abs = 0.03
    ["*".robust_accuracy] # one metric, in every suite
    abs = 0.01
    [quality.fid]      # one metric of one suite
    rel = 0.10
    [energy.energy_std]
    ignore = true      # reported, never gated
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ebmbench.errors import EbmbenchError
from ebmbench.registries import suite_spec
from ebmbench.spec import DEFAULT_TOLERANCE, Tolerance
from ebmbench.suggest import closest

__all__ = ["Tolerance", "Tolerances", "check_names", "load_tolerances"]

FIELDS: dict[str, type] = {"abs": float, "rel": float, "ignore": bool}


@dataclass
class Tolerances:
    """Built-in defaults plus the overrides of a TOML file, keyed ``"*"``, ``suite`` or ``suite.metric``."""

    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str | None = None

    def get(self, suite: str, metric: str) -> Tolerance:
        """The tolerance for ``metric`` of ``suite``: its spec's default, then the overrides for every suite,
        for the metric in every suite, for the suite, and for the metric of the suite."""
        spec = suite_spec(suite)
        tol = spec.tolerance_for(metric) if spec is not None else DEFAULT_TOLERANCE
        for key in ("*", f"*.{metric}", suite, f"{suite}.{metric}"):
            tol = replace(tol, **self.overrides.get(key, {}))
        return tol


def check_names(tolerances: Tolerances, seen: dict[str, set[str]], path: str | Path | None = None) -> None:
    """Refuse an override whose suite or metric looks like a typo of one in the compared runs (``seen``:
    suite -> metrics); one that matches nothing here but resembles nothing either is left alone, since a
    shared tolerance file may serve other comparisons."""
    all_metrics = set().union(*seen.values()) if seen else set()
    for key in tolerances.overrides:
        suite, _, metric = key.partition(".")
        if suite != "*" and suite not in seen:
            _refuse_typo(path, "suite", suite, seen)
        elif metric and metric not in (all_metrics if suite == "*" else seen[suite]):
            _refuse_typo(path, f"metric of [{suite}]", metric, all_metrics if suite == "*" else seen[suite])


def _refuse_typo(path: str | Path | None, what: str, name: str, known: Any) -> None:
    close = closest(name, sorted(known), cutoff=0.75, by_edits=False)
    if close:
        raise EbmbenchError(f"{path or 'tolerances'}: no {what} {name!r} in the compared runs; did you mean "
                            f"{close[0]!r}?")


def load_tolerances(path: str | Path | None) -> Tolerances:
    """Read a tolerance file (``None``: defaults only); any unknown key or bad value is a one-line error."""
    if path is None:
        return Tolerances()
    data = _read_toml(Path(path))
    overrides: dict[str, dict[str, Any]] = {}
    for suite, table in data.items():
        if not isinstance(table, dict):
            raise EbmbenchError(f"{path}: {suite!r} must be a table like [{suite}] with abs/rel/ignore keys")
        overrides[suite] = _fields(path, suite, {k: v for k, v in table.items() if not isinstance(v, dict)})
        for metric, sub in table.items():
            if isinstance(sub, dict):
                overrides[f"{suite}.{metric}"] = _fields(path, f"{suite}.{metric}", sub)
    return Tolerances(overrides, str(path))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise EbmbenchError("tolerance files need Python 3.11 or newer (tomllib)") from None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EbmbenchError(f"tolerance file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EbmbenchError(f"tolerance file {path} cannot be read: {exc}") from None


def _fields(path: str | Path, where: str, table: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        kind = FIELDS.get(key)
        if kind is None:
            raise EbmbenchError(f"{path}: unknown key {key!r} in [{where}] (known: {', '.join(FIELDS)})")
        if kind is bool and not isinstance(value, bool):
            raise EbmbenchError(f"{path}: [{where}] {key} must be true or false, got {value!r}")
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value) or value < 0):
            raise EbmbenchError(f"{path}: [{where}] {key} must be a non-negative number, got {value!r}")
        out[key] = kind(value)
    return out
