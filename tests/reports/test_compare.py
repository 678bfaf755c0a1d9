"""``compare``: regressions in both directions of "better", tolerances, intervals, comparability, exit codes."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ebmbench.errors import EbmbenchError
from ebmbench.reports import compare as C
from ebmbench.reports.cli import compare
from ebmbench.reports.load import load_runs
from ebmbench.reports.tolerances import Tolerances, load_tolerances


@pytest.fixture
def verdict(make_run, record):
    """``verdict(base_fields, cand_fields, ...)``: two one-record runs (or lists of records) judged."""

    def run(base: dict | list, cand: dict | list, tolerances: Tolerances | None = None, allow_missing=False,
            base_model="ebm", cand_model="ebm", cand_status="complete"):
        b = [record(**f) for f in (base if isinstance(base, list) else [base])]
        c = [record(**f) for f in (cand if isinstance(cand, list) else [cand])]
        bp, cp = make_run("base", b, model=base_model), make_run("cand", c, model=cand_model, status=cand_status)
        return C.compare_runs(load_runs([bp]), load_runs([cp]), tolerances or Tolerances(), allow_missing)

    return run


# metric, fields of the records, baseline value, a worse value beyond tolerance, a better one
DIRECTIONS = [
    ("auroc", {}, 0.90, 0.80, 0.97),                                         # higher is better (known metric)
    ("fid", {"suite": "quality", "eval_set": "samples"}, 40.0, 48.0, 30.0),  # lower is better (known metric)
    ("my_loss", {"higher_is_better": False}, 1.0, 1.5, 0.5),                 # lower, said by the record
    ("my_score", {"higher_is_better": True}, 1.0, 0.5, 1.5),                 # higher, said by the record
]


@pytest.mark.parametrize(("metric", "fields", "base", "worse", "better"), DIRECTIONS)
def test_worse_beyond_tolerance_fails_and_better_passes(verdict, metric, fields, base, worse, better) -> None:
    bad = verdict({"metric": metric, "value": base, **fields}, {"metric": metric, "value": worse, **fields})
    assert [c.status for c in bad.comparisons] == [C.REGRESSION] and bad.exit_code == 1
    good = verdict({"metric": metric, "value": base, **fields}, {"metric": metric, "value": better, **fields})
    assert [c.status for c in good.comparisons] == [C.IMPROVED] and good.exit_code == 0


def test_small_worsening_inside_tolerance_passes(verdict) -> None:
    v = verdict({"value": 0.90}, {"value": 0.885})  # ood default: 0.02 absolute
    assert v.comparisons[0].status == C.UNCHANGED and v.comparisons[0].allowed == pytest.approx(0.02)
    assert v.exit_code == 0


def test_change_inside_confidence_intervals_is_not_a_regression(verdict) -> None:
    inside = verdict({"value": 0.90, "ci_low": 0.80, "ci_high": 0.95}, {"value": 0.85})
    assert inside.comparisons[0].status == C.WITHIN_CI and inside.exit_code == 0
    cand_interval = verdict({"value": 0.90}, {"value": 0.85, "ci_low": 0.84, "ci_high": 0.91})
    assert cand_interval.comparisons[0].status == C.WITHIN_CI
    outside = verdict({"value": 0.90, "ci_low": 0.88, "ci_high": 0.92}, {"value": 0.85, "ci_low": 0.84,
                                                                          "ci_high": 0.86})
    assert outside.comparisons[0].status == C.REGRESSION and outside.exit_code == 1


@pytest.mark.parametrize("change", [{"suite_version": "2"}, {"dataset": "cifar10"},
                                    {"extra": {"extractor": "inception"}}])
def test_rows_that_differ_in_version_dataset_or_extractor_are_never_compared(verdict, change) -> None:
    base = {"suite": "quality", "metric": "fid", "value": 40.0, "extra": {"extractor": "digits-cnn"}}
    v = verdict(base, {**base, "value": 400.0, **change})  # far worse, but not comparable
    assert [c.status for c in v.comparisons] == [C.NOT_COMPARABLE]
    assert "→" in v.comparisons[0].reason
    assert v.exit_code == 2 and any("not comparable" in b for b in v.blocking)


def test_missing_and_new_metrics(verdict) -> None:
    both = [{"eval_set": "uniform"}, {"eval_set": "svhn"}]
    v = verdict(both, [{"eval_set": "uniform"}, {"eval_set": "flip"}])
    assert {c.identity["eval_set"]: c.status for c in v.comparisons} == {"uniform": C.UNCHANGED,
                                                                        "svhn": C.MISSING, "flip": C.NEW}
    assert v.exit_code == 2
    assert verdict(both, [{"eval_set": "uniform"}], allow_missing=True).exit_code == 0


def test_nothing_comparable_is_unusable(verdict) -> None:
    v = verdict({"metric": "energy_mean", "value": 1.0}, {"metric": "energy_mean", "value": 9.0})
    assert v.comparisons[0].status == C.NO_DIRECTION and v.exit_code == 2
    assert any("nothing comparable" in b for b in v.blocking)


def test_model_under_test_matched_across_checkpoint_names(verdict) -> None:
    v = verdict([{"model": "old"}, {"model": "glow", "value": 0.7}],
                [{"model": "new", "value": 0.5}, {"model": "glow", "value": 0.7}], base_model="old", cand_model="new")
    status = {c.identity["model"]: c.status for c in v.comparisons}
    assert status == {"old": C.REGRESSION, "glow": C.UNCHANGED}


def test_seeds_are_averaged_with_an_interval(verdict) -> None:
    v = verdict({"value": 0.90}, [{"value": x, "seed": s} for s, x in enumerate((0.80, 0.86, 0.92))])
    cand = v.comparisons[0].candidate
    assert cand.seeds == 3 and cand.value == pytest.approx(0.86)
    half = 4.302653 * np.std([0.80, 0.86, 0.92], ddof=1) / np.sqrt(3)  # t(0.975, 2 dof), from tables
    assert (cand.ci_low, cand.ci_high) == pytest.approx((0.86 - half, 0.86 + half), rel=1e-6)
    assert v.comparisons[0].status == C.WITHIN_CI


def test_non_finite_candidate_is_a_regression(verdict) -> None:
    v = verdict({"value": 0.90}, {"value": math.nan})
    assert v.comparisons[0].status == C.REGRESSION and v.exit_code == 1


def test_unfinished_candidate_run_is_unusable(verdict) -> None:
    v = verdict({"value": 0.90}, {"value": 0.90}, cand_status="failed: boom")
    assert v.exit_code == 2 and any("did not complete" in p for p in v.problems)


def test_tolerance_file_overrides_most_specific_last(verdict, tmp_path: Path) -> None:
    path = tmp_path / "tol.toml"
    path.write_text('["*"]\nrel = 0.5\n[ood]\nabs = 0.2\n[ood.fpr95]\nabs = 0.0\nrel = 0.0\n'
                    '[quality.fid]\nignore = true\n')
    tol = load_tolerances(path)
    assert tol.get("ood", "auroc").allowed(0.9) == pytest.approx(0.45)  # rel 0.5 from "*" beats abs 0.2
    assert tol.get("ood", "fpr95").allowed(0.9) == 0.0 and tol.get("quality", "fid").ignore
    path.write_text("[ood]\nabs = 0.2\n")
    assert verdict({"value": 0.90}, {"value": 0.75}, load_tolerances(path)).exit_code == 0
    assert verdict({"value": 0.90}, {"value": 0.75}).exit_code == 1


@pytest.mark.parametrize("text,message", [("[od]\nabs = 0.1\n", "no suite 'od'.*did you mean 'ood'"),
                                          ("[ood.aurco]\nabs = 0.1\n", "no metric of \\[ood\\] 'aurco'.*'auroc'"),
                                          ('["*".aurocc]\nabs = 0.1\n', "'aurocc'.*did you mean 'auroc'")])
def test_tolerance_typos_against_the_compared_runs_are_refused(verdict, tmp_path: Path, text: str,
                                                               message: str) -> None:
    path = tmp_path / "tol.toml"
    path.write_text(text)
    with pytest.raises(EbmbenchError, match=message):
        verdict({"value": 0.90}, {"value": 0.75}, load_tolerances(path))


def test_tolerances_for_suites_absent_here_are_kept(verdict, tmp_path: Path) -> None:
    path = tmp_path / "tol.toml"
    path.write_text("[quality.fid]\nrel = 0.1\n[robustness]\nabs = 0.05\n[ood]\nabs = 0.2\n")
    assert verdict({"value": 0.90}, {"value": 0.75}, load_tolerances(path)).exit_code == 0


@pytest.mark.parametrize("text", ["[ood]\nabsolute = 0.1\n", "[ood]\nabs = -1\n", "ood = 3\n",
                                  "[ood]\nignore = 1\n", "[ood\n"])
def test_bad_tolerance_files_are_one_line_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tol.toml"
    path.write_text(text)
    with pytest.raises(EbmbenchError) as info:
        load_tolerances(path)
    assert "\n" not in str(info.value)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(compare, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_exit_codes_markdown_and_junit(make_run, record, tmp_path: Path) -> None:
    base = make_run("b", [record(value=0.9), record(metric="fpr95", value=0.1)])
    same = make_run("same", [record(value=0.91), record(metric="fpr95", value=0.1)])
    worse = make_run("worse", [record(value=0.5), record(metric="fpr95", value=0.1)])
    assert _invoke(str(base), str(same))[0] == 0
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    code, output = _invoke(str(base), str(worse), "--junit", str(junit), "--markdown", str(summary))
    assert code == 1 and "❌ regression" in output and summary.read_text() == output
    assert "### Needs attention" in output and "| regression | ood | ebm | uniform | auroc |" in output
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == ["auroc / uniform"]


def test_cli_unusable_input_exits_2_and_still_writes_junit(make_run, record, tmp_path: Path) -> None:
    base = make_run("b", [record()])
    junit = tmp_path / "junit.xml"
    code, output = _invoke(str(base), str(tmp_path / "missing"), "--junit", str(junit))
    assert code == 2 and output.count("\n") == 1 and "does not exist" in output
    assert ET.parse(junit).getroot().get("errors") == "1"
    other = make_run("other", [record(dataset="cifar10")])
    code, output = _invoke(str(base), str(other))
    assert code == 2 and "not comparable" in output
    bad = tmp_path / "bad.toml"
    bad.write_text("[ood]\nwhat = 1\n")
    assert _invoke(str(base), str(base), "--tolerance", str(bad))[0] == 2


def test_differing_suite_options_are_noted(make_run, record) -> None:
    base = make_run("b", [record()], options={"n": 100, "sets": ["uniform"]})
    cand = make_run("c", [record()], options={"n": 1000, "sets": ["uniform"]})
    verdict = C.compare_runs(load_runs([base]), load_runs([cand]), Tolerances())
    assert verdict.notes[0] == "ood options differ: n 100 → 1000" and verdict.exit_code == 0
    assert verdict.notes[1:] == ["1 metric(s) without a test, judged by tolerance and interval overlap: no "
                                 "per-sample file (1)"]


def test_one_untested_draw_per_side_from_different_seeds_is_seed_noise_not_a_regression(verdict, make_run,
                                                                                          record, tmp_path) -> None:
    fid = {"suite": "quality", "eval_set": "samples", "metric": "fid"}
    noisy = verdict({**fid, "value": 40.0, "seed": 0}, {**fid, "value": 48.0, "seed": 1})
    assert [c.status for c in noisy.comparisons] == [C.SEED_NOISE] and noisy.exit_code == 0
    assert "seed 0 against 1" in noisy.comparisons[0].reason and any("--set seeds=K" in n for n in noisy.notes)
    # the same seed makes the runs repeatable: the change is the model's, and it is judged
    same_seed = verdict({**fid, "value": 40.0, "seed": 3}, {**fid, "value": 48.0, "seed": 3})
    assert [c.status for c in same_seed.comparisons] == [C.REGRESSION] and same_seed.exit_code == 1
    # an interval on either side means the interval rule has judged it: still a regression
    with_ci = verdict({**fid, "value": 40.0, "seed": 0, "ci_low": 39.0, "ci_high": 41.0},
                      {**fid, "value": 48.0, "seed": 1})
    assert [c.status for c in with_ci.comparisons] == [C.REGRESSION]
    # several seeds per side get a test over seeds instead
    several = verdict([{**fid, "value": v, "seed": s} for s, v in enumerate((40.0, 40.5, 39.5))],
                      [{**fid, "value": v, "seed": s + 10} for s, v in enumerate((48.0, 48.5, 47.5))])
    assert [c.status for c in several.comparisons] == [C.REGRESSION] and several.comparisons[0].test is not None


def test_cli_strict_fails_on_seed_noise_and_junit_skips_it(make_run, record, tmp_path: Path) -> None:
    fid = {"suite": "quality", "eval_set": "samples", "metric": "fid"}
    base = make_run("b", [record(**fid, value=40.0, seed=0)], seed=0)
    cand = make_run("c", [record(**fid, value=48.0, seed=1)], seed=1)
    junit = tmp_path / "junit.xml"
    code, output = _invoke(str(base), str(cand), "--junit", str(junit))
    assert code == 0 and "| seed noise? | quality |" in output
    root = ET.parse(junit).getroot()
    assert (root.get("failures"), root.get("skipped")) == ("0", "1")
    code, output = _invoke(str(base), str(cand), "--strict")
    assert code == 1 and "| regression | quality |" in output
