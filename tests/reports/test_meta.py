"""Reports take every fact about a metric from the suite's spec: a spec declared once (here a toy suite's)
decides directions, headline order, row and column qualifiers, comparability and how seeds combine."""

from __future__ import annotations

import pytest

from ebmbench.registries import SPECS
from ebmbench.reports import compare as C
from ebmbench.reports.aggregate import aggregate_seeds
from ebmbench.reports.load import load_runs
from ebmbench.reports.report import render_report
from ebmbench.reports.tolerances import Tolerances
from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, record):
    spec = SuiteSpec("toy", "1", "a toy", (Metric("loss", False, "Loss"), Metric("gain", True, aggregation="median")),
                     headline="gain", qualifiers=(Qualifier("temp", "T", place="row"),
                                                  Qualifier("net", "network", must_agree=True)),
                     tolerance=Tolerance(abs=0.1))
    SPECS.names()
    monkeypatch.setitem(SPECS._entries, "toy", spec)
    return lambda **f: record(**{"suite": "toy", "eval_set": "test", **f})


def test_table_orders_headline_first_splits_rows_by_qualifier_and_takes_directions(toy, make_run, md_tables):
    recs = [toy(metric="loss", value=1.0, extra={"temp": 1}), toy(metric="loss", value=2.0, extra={"temp": 2}),
            toy(metric="gain", value=3.0, extra={"temp": 1})]
    text = render_report(load_runs([make_run("r", recs)]), "md")
    header, rows = next(t for title, t in md_tables(text).items() if title.startswith("toy"))
    assert header[:3] == ["metric", "eval set", "T"]
    assert [r[:3] for r in rows] == [["gain ↑", "test", "1"], ["loss ↓", "test", "1"], ["loss ↓", "test", "2"]]


def test_seeds_combine_as_the_metric_declares(toy, make_run):
    runs = [make_run(f"s{seed}", [toy(metric="gain", value=v, seed=seed)], seed=seed)
            for seed, v in enumerate([1.0, 2.0, 10.0])]
    frame = aggregate_seeds(load_runs(runs).frame)
    assert list(frame["value"]) == [2.0]  # the median, not the mean 4.33


def test_compare_uses_the_spec_tolerance_and_refuses_to_compare_across_must_agree_qualifiers(toy, make_run):
    names = iter(range(100))

    def verdict(base, cand):
        i = next(names)
        b, c = make_run(f"b{i}", [toy(**base)]), make_run(f"c{i}", [toy(**cand)])
        return C.compare_runs(load_runs([b]), load_runs([c]), Tolerances())

    # record without a direction: loss is lower-is-better by the spec, and 0.05 worse is within abs 0.1
    assert verdict({"metric": "loss", "value": 1.0}, {"metric": "loss", "value": 1.05}).exit_code == 0
    assert verdict({"metric": "loss", "value": 1.0}, {"metric": "loss", "value": 1.2}).exit_code == 1
    assert verdict({"metric": "loss", "value": 1.0}, {"metric": "loss", "value": 0.8}).exit_code == 0
    other_net = verdict({"metric": "loss", "value": 1.0, "extra": {"net": "a"}},
                        {"metric": "loss", "value": 1.0, "extra": {"net": "b"}})
    assert other_net.comparisons[0].status == C.NOT_COMPARABLE and other_net.exit_code == 2
