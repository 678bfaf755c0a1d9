"""Paper layouts of the restoration, calibration and mcmc suites, from records as the suites write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebmbench.reports.aggregate import with_spread
from ebmbench.reports.load import load_runs
from ebmbench.reports.paper_more import calibration_table, mcmc_table, more_tables, restoration_tables
from ebmbench.reports.render import latex_tables, markdown_tables


@pytest.fixture
def runs(make_run, record) -> list[Path]:
    r = []
    for model, steps, value in (("corrupted-input", None, 15.0), ("median-filter", None, 18.0), ("ebm", 0, 15.0),
                                ("ebm", 20, 21.5)):
        extra = {"corruption": "gaussian", "level": 0.3} | ({} if steps is None else {"steps": steps})
        r.append(record(suite="restoration", model=model, eval_set="gaussian:0.3", metric="psnr", value=value,
                        ci_low=value - 0.5, ci_high=value + 0.5, extra=extra))
        r.append(record(suite="restoration", model=model, eval_set="gaussian:0.3", metric="accuracy",
                        value=value / 30, extra={**extra, "classifier": "classifier"}))
    c = [record(suite="calibration", model=m, eval_set="test", metric=k, value=v,
                extra={"view": view, "bins": 15})
         for m, view, k, v in (("ebm", "plain", "ece", 0.12), ("ebm", "plain", "accuracy", 0.8),
                               ("ebm", "purified", "ece", 0.2), ("classifier", "plain", "ece", 0.05))]
    m = [record(suite="mcmc", eval_set="all", metric=k, value=v, extra={"protocol": "noise", "chain_steps": 60})
         for k, v in (("rhat_energy", 1.8), ("ess_energy", 12.0), ("mala_acceptance", 0.0), ("burn_in", 30),
                      ("sanity_rhat", 1), ("sanity_ess", 0))]
    return [make_run("restoration", r), make_run("calibration", c), make_run("mcmc", m)]


def test_restoration_table_puts_input_baseline_and_model_side_by_side(runs: list[Path]) -> None:
    frame = with_spread(load_runs(runs).frame)
    quality, accuracy = restoration_tables(frame)
    assert quality.columns == ["corrupted input", "simple baseline", "ebm (20 steps)"]
    row = quality.rows[0]
    assert row.labels == ["gaussian:0.3", "psnr"]
    assert [c.value for c in row.cells] == [15.0, 18.0, 21.5]
    assert row.cells[2].best and row.cells[2].pm == pytest.approx(0.5)
    assert accuracy.rows[0].labels == ["gaussian:0.3", "accuracy"]


def test_calibration_and_mcmc_tables(runs: list[Path]) -> None:
    frame = with_spread(load_runs(runs).frame)
    cal = calibration_table(frame)
    assert [r.labels[:2] for r in cal.rows] == [["ebm", "plain"], ["ebm", "purified"], ["classifier", "plain"]]
    assert cal.rows[0].cells[1].value == 0.12 and cal.rows[0].cells[0].value == 0.8
    assert "15 equal-width" in cal.notes[0]
    mix = mcmc_table(frame)
    assert mix.rows[0].labels == ["ebm", "digits", "noise", "60", "rhat"]
    assert mix.rows[0].cells[0].value == 1.8


def test_tables_render_and_are_absent_without_runs(runs: list[Path], balanced_latex) -> None:
    frame = with_spread(load_runs(runs).frame)
    tables = more_tables(frame)
    assert len(tables) == 4
    balanced_latex(latex_tables(tables))
    assert "Mixing of the Langevin chains" in markdown_tables(tables)
    assert more_tables(frame[frame["suite"] == "nothing"]) == []
