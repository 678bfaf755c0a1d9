"""``ebmbench compare``: a regression verdict between a baseline and a candidate run, for CI.

Rules, in order:

- Numbers are matched by what they measure: suite, model, eval set, metric and the metadata that makes them
  different measurements (steps, norm, ε, score, threat model). The model under test is matched to the model
  under test even when the two checkpoints have different names.
- A pair whose suite version, dataset or extractor differs is "not comparable": reported, never compared.
- Several seeds of one measurement on one side are averaged, with a t-interval across seeds as their CI.
- A metric is judged in its own direction: a worsening beyond ``max(abs, rel * |baseline|)`` is a regression
  when it is also significant. Where both sides have per-sample files (or several seeds), a one-sided test
  decides (``evidence``: paired bootstrap, exact McNemar, Welch over seeds), with Holm's correction across every
  tested metric at ``alpha``; elsewhere the interval rule does: not a regression if the change lies inside the
  confidence intervals (the candidate's value inside the baseline's interval, or the baseline's inside the
  candidate's). Metrics without a direction are shown, not judged.
- A worsening beyond tolerance that rests on one draw per side, from different seeds, with no interval and no
  per-sample evidence is "seed noise?": nothing can tell it from a different random draw. It is reported and
  counted, does not fail the gate, and its note says how to test it (``--set seeds=K`` on both sides);
  ``--strict`` makes it a regression. With equal seeds the runs are repeatable, so such a change is judged.
- Exit code 1 if anything regressed; else 2 if the input cannot vouch for the candidate (nothing compared,
  rows not comparable, baseline metrics missing from the candidate, unfinished runs); else 0.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from ebmbench.numbers import none_if_nan
from ebmbench.reports.evidence import Evidence, NoEvidence
from ebmbench.reports.load import RunSet
from ebmbench.reports.meta import comparability, declared, meta
from ebmbench.reports.paired import TestResult, holm
from ebmbench.reports.tolerances import Tolerance, Tolerances, check_names


def identity_keys() -> tuple[str, ...]:
    """What a number measures: suite, model, eval set, metric and the qualifiers that need not agree."""
    agree = comparability()
    return ("suite", "model", "eval_set", "metric", *(k for k in meta() if k not in agree))

REGRESSION, IMPROVED, UNCHANGED, WITHIN_CI = "regression", "improved", "unchanged", "within CI"
NOT_SIGNIFICANT = "not significant"
SEED_NOISE = "seed noise?"
NO_DIRECTION, IGNORED, NOT_COMPARABLE, MISSING, NEW = "no direction", "ignored", "not comparable", "missing", "new"
PASSED: frozenset[str] = frozenset({IMPROVED, UNCHANGED, WITHIN_CI, NOT_SIGNIFICANT})
ALPHA = 0.05


@dataclass(frozen=True)
class Measurement:
    """One side's number for a matched row (seeds averaged), with its interval and where it came from."""

    value: float
    ci_low: float | None
    ci_high: float | None
    seeds: int
    higher_is_better: bool | None
    model: str
    runs: tuple[str, ...]
    rows: tuple[dict[str, Any], ...] = ()  # the records behind it (run, model as written, extra, value...)

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies inside this measurement's confidence interval."""
        return self.ci_low is not None and self.ci_high is not None and self.ci_low <= value <= self.ci_high


@dataclass
class Comparison:
    """One matched row and its status (see the module docstring)."""

    identity: dict[str, Any]
    status: str
    baseline: Measurement | None = None
    candidate: Measurement | None = None
    allowed: float | None = None
    reason: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    test: TestResult | None = None  # the significance test, when the evidence allows one
    p_adjusted: float | None = None  # its p-value after Holm's correction across the tested rows

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate.value - self.baseline.value


@dataclass
class Verdict:
    """All comparisons, the input problems, and the exit code CI acts on."""

    comparisons: list[Comparison]
    problems: list[str]
    baseline: list[str]
    candidate: list[str]
    allow_missing: bool = False
    notes: list[str] = field(default_factory=list)
    alpha: float = ALPHA

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.comparisons)

    @property
    def blocking(self) -> list[str]:
        """Why the input cannot vouch for the candidate (empty when it can)."""
        reasons = list(self.problems)
        if not any(c.status in PASSED or c.status in (REGRESSION, SEED_NOISE) for c in self.comparisons):
            reasons.append("nothing comparable: no metric with a direction is present in both runs")
        if self.count(NOT_COMPARABLE):
            reasons.append(f"{self.count(NOT_COMPARABLE)} row(s) not comparable")
        if self.count(MISSING) and not self.allow_missing:
            reasons.append(f"{self.count(MISSING)} baseline metric(s) missing from the candidate")
        return reasons

    @property
    def exit_code(self) -> int:
        """0 no regression, 1 regression, 2 unusable input."""
        if self.count(REGRESSION):
            return 1
        return 2 if self.blocking else 0


def compare_runs(baseline: RunSet, candidate: RunSet, tolerances: Tolerances,
                 allow_missing: bool = False, alpha: float = ALPHA, tests: bool = True,
                 strict: bool = False) -> Verdict:
    """Judge ``candidate`` against ``baseline`` metric by metric (``tests=False``: the interval rule only;
    ``strict``: a change that may be seed noise counts as a regression)."""
    seen: dict[str, set[str]] = {}
    for runs in (baseline, candidate):
        for suite, metric in zip(runs.frame["suite"], runs.frame["metric"], strict=True):
            seen.setdefault(str(suite), set()).add(str(metric))
    check_names(tolerances, seen, tolerances.path)
    rename = _main_model_rename(baseline, candidate)
    base, cand = _measurements(baseline, {}), _measurements(candidate, rename)
    comparisons = []
    for ident in list(dict.fromkeys([*base, *cand])):
        comparisons += _pair(ident, base.get(ident, {}), cand.get(ident, {}), tolerances)
    problems = [f"{side} run {run} did not complete (status: {status})"
                for side, runs in (("baseline", baseline), ("candidate", candidate))
                for run, status in runs.incomplete().items()]
    notes = _option_notes(baseline, candidate)
    if tests:
        notes += apply_tests(comparisons, Evidence.from_frames(baseline.frame, candidate.frame), alpha)
    if not strict:
        notes += mark_seed_noise(comparisons)
    return Verdict(comparisons, problems, list(baseline.manifests), list(candidate.manifests), allow_missing,
                   notes=notes, alpha=alpha)


def apply_tests(comparisons: list[Comparison], evidence: Evidence, alpha: float = ALPHA) -> list[str]:
    """Test every judged row the evidence allows, correct the p-values with Holm across them, and judge those
    rows by their test instead of the interval rule; returns the notes that say what was done."""
    judged = [c for c in comparisons if c.status in PASSED or c.status == REGRESSION]
    untested: dict[str, int] = {}
    for comp in judged:
        try:
            comp.test = evidence.test(list(comp.baseline.rows), list(comp.candidate.rows),
                                      bool(comp.baseline.higher_is_better))
        except NoEvidence as exc:
            untested[str(exc)] = untested.get(str(exc), 0) + 1
    tested = [c for c in judged if c.test is not None]
    for comp, adjusted in zip(tested, holm([c.test.p for c in tested]), strict=True):
        comp.p_adjusted = adjusted
        comp.status, comp.allowed, comp.reason = judge_tested(comp, adjusted, alpha)
    notes = []
    if tested:
        methods = sorted({c.test.method.split(" (")[0].split(",")[0] for c in tested})
        notes.append(f"{len(tested)} metric(s) judged by one-sided tests ({', '.join(methods)}) with Holm's "
                     f"correction across them at alpha {alpha:g}: a regression is worse beyond tolerance and "
                     "significant")
    if untested:
        why = "; ".join(f"{reason} ({n})" for reason, n in sorted(untested.items(), key=lambda kv: -kv[1]))
        notes.append(f"{sum(untested.values())} metric(s) without a test, judged by tolerance and interval "
                     f"overlap: {why}")
    return notes


def mark_seed_noise(comparisons: list[Comparison]) -> list[str]:
    """Regressions that rest on one untested draw per side from different seeds become "seed noise?"; returns
    the note that says how many and how to test them."""
    marked = [c for c in comparisons if c.status == REGRESSION and _single_untested_draws(c)]
    for comp in marked:
        seeds = f"seed {comp.baseline.rows[0].get('seed')} against {comp.candidate.rows[0].get('seed')}"
        comp.status = SEED_NOISE
        comp.reason = (f"{comp.reason}; but one draw per side ({seeds}) with no interval and no per-sample file: "
                       "cannot be told from seed noise")
    if not marked:
        return []
    return [f"{len(marked)} change(s) beyond tolerance rest on one draw per side from different seeds, with no "
            "interval and no per-sample evidence, so they are not judged (status 'seed noise?'): run both sides "
            "with --set seeds=K (K of 3 or more) for a test over seeds, or use --strict to fail on them"]


def _single_untested_draws(comp: Comparison) -> bool:
    base, cand = comp.baseline, comp.candidate
    if base is None or cand is None or comp.test is not None or base.seeds != 1 or cand.seeds != 1:
        return False
    if not (math.isfinite(base.value) and math.isfinite(cand.value)):
        return False
    no_interval = all(m.ci_low is None or m.ci_high is None for m in (base, cand))
    seeds = base.rows[0].get("seed"), cand.rows[0].get("seed")
    return no_interval and None not in seeds and seeds[0] != seeds[1]


def judge_tested(comp: Comparison, p_adjusted: float, alpha: float) -> tuple[str, float | None, str]:
    """Status, allowed worsening and reason of a row with a test: beyond tolerance and significant is a
    regression, beyond tolerance but not significant is not."""
    base, cand = comp.baseline, comp.candidate
    hib = bool(base.higher_is_better)
    worse = (base.value - cand.value) if hib else (cand.value - base.value)
    allowed = comp.allowed if comp.allowed is not None else 0.0
    if not math.isfinite(cand.value) or worse <= allowed:
        return comp.status, comp.allowed, comp.reason
    if p_adjusted < alpha:
        return REGRESSION, allowed, f"worse by {worse:.6g}, allowed {allowed:.6g}; significant"
    return NOT_SIGNIFICANT, allowed, "worse beyond tolerance, but not significant"


def judge(base: Measurement, cand: Measurement, tol: Tolerance) -> tuple[str, float | None, str]:
    """Status, allowed worsening and reason for one comparable pair."""
    hib = base.higher_is_better
    if tol.ignore:
        return IGNORED, None, "ignored by the tolerance file"
    if hib is None:
        return NO_DIRECTION, None, "metric has no direction of better; shown, not judged"
    if cand.higher_is_better is not None and cand.higher_is_better != hib:
        return NOT_COMPARABLE, None, "the runs disagree on the direction of better"
    if not math.isfinite(base.value):
        return NOT_COMPARABLE, None, f"baseline value is {base.value}"
    if not math.isfinite(cand.value):
        return REGRESSION, 0.0, f"candidate value is {cand.value}"
    worse = (base.value - cand.value) if hib else (cand.value - base.value)
    allowed = tol.allowed(base.value)
    if worse <= allowed:
        return (IMPROVED if -worse > allowed else UNCHANGED), allowed, ""
    if base.covers(cand.value) or cand.covers(base.value):
        return WITHIN_CI, allowed, "worse beyond tolerance, but inside the confidence intervals"
    return REGRESSION, allowed, f"worse by {worse:.6g}, allowed {allowed:.6g}"


def _pair(ident: tuple, base: dict[tuple, Measurement], cand: dict[tuple, Measurement],
          tolerances: Tolerances) -> list[Comparison]:
    identity = dict(zip(identity_keys(), ident, strict=True))
    tol = tolerances.get(identity["suite"], identity["metric"])
    out = []
    for comp in [c for c in base if c in cand]:
        status, allowed, reason = judge(base[comp], cand[comp], tol)
        out.append(Comparison(identity, status, base[comp], cand[comp], allowed, reason, _context(comp)))
    b_only, c_only = [c for c in base if c not in cand], [c for c in cand if c not in base]
    for b_comp, c_comp in zip(b_only, c_only, strict=False):  # leftovers are missing or new, below
        out.append(Comparison(identity, NOT_COMPARABLE, base[b_comp], cand[c_comp], None,
                              _differences(b_comp, c_comp), _context(b_comp)))
    out += [Comparison(identity, MISSING, base[c], None, None, "absent from the candidate", _context(c))
            for c in b_only[len(c_only):]]
    out += [Comparison(identity, NEW, None, cand[c], None, "absent from the baseline", _context(c))
            for c in c_only[len(b_only):]]
    return out


def _measurements(runs: RunSet, rename: dict[str, str]) -> dict[tuple, dict[tuple, Measurement]]:
    """identity -> comparability fields -> measurement (seeds of one measurement averaged)."""
    groups: dict[tuple, dict[tuple, list[dict[str, Any]]]] = {}
    identity, agree = identity_keys(), comparability()
    for row in runs.frame.to_dict("records"):
        row = {k: v if k == "value" else none_if_nan(v) for k, v in row.items()}
        display = row["model"]
        row["model"] = rename.get(display, display)
        ident = tuple(row[k] for k in identity)
        comp = tuple(row[k] for k in agree)
        groups.setdefault(ident, {}).setdefault(comp, []).append({**row, "display": display})
    return {i: {c: _measurement(rows) for c, rows in by.items()} for i, by in groups.items()}


def _measurement(rows: list[dict[str, Any]]) -> Measurement:
    values = [float(r["value"]) for r in rows]
    hib = rows[0]["higher_is_better"]
    common = {"seeds": len(rows), "higher_is_better": None if hib is None else bool(hib),
              "model": rows[0]["display"], "runs": tuple(dict.fromkeys(r["run"] for r in rows)),
              "rows": tuple({**r, "model": r["display"], "value": float(r["value"])} for r in rows)}
    if len(rows) == 1:
        return Measurement(values[0], rows[0]["ci_low"], rows[0]["ci_high"], **common)
    metric = declared(str(rows[0]["suite"]), str(rows[0]["metric"]))
    if metric is not None and metric.aggregation != "mean":  # no t-interval for a median: no interval
        return Measurement(metric.aggregate(values), None, None, **common)
    mean = statistics.fmean(values)
    half = _t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Measurement(mean, mean - half, mean + half, **common)


def _main_model_rename(baseline: RunSet, candidate: RunSet) -> dict[str, str]:
    """Candidate model-under-test name -> baseline's, when each side tests exactly one model."""
    base = {str(m.get("model", "")) for m in baseline.manifests.values()} - {""}
    cand = {str(m.get("model", "")) for m in candidate.manifests.values()} - {""}
    if len(base) == 1 and len(cand) == 1 and base != cand:
        return {cand.pop(): base.pop()}
    return {}


def _option_notes(baseline: RunSet, candidate: RunSet) -> list[str]:
    """Suite options that differ between the sides: not blocking (a suite's version and data decide
    comparability), but a reviewer should see them, since e.g. FID depends on the number of samples."""
    base, cand = _options_by_suite(baseline), _options_by_suite(candidate)
    notes = []
    for suite in [s for s in base if s in cand and base[s] != cand[s]]:
        keys = sorted(set(base[suite]) | set(cand[suite]), key=str)
        diff = [f"{k} {base[suite].get(k)} → {cand[suite].get(k)}" for k in keys
                if base[suite].get(k) != cand[suite].get(k)]
        notes.append(f"{suite} options differ: {'; '.join(diff)}")
    return notes


def _options_by_suite(runs: RunSet) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for manifest in runs.manifests.values():
        identity = manifest.get("identity") if isinstance(manifest.get("identity"), dict) else {}
        options = identity.get("options")
        if identity.get("suite") and isinstance(options, dict):
            out.setdefault(str(identity["suite"]), options)
    return out


def _differences(base: tuple, cand: tuple) -> str:
    return "; ".join(f"{name} {b} → {c}" for name, b, c in zip(comparability(), base, cand, strict=True) if b != c)


def _context(comp: tuple) -> dict[str, Any]:
    return dict(zip(comparability(), comp, strict=True))


def _t975(dof: int) -> float:
    """Two-sided 95% Student-t quantile."""
    from scipy import stats

    return float(stats.t.ppf(0.975, dof))
