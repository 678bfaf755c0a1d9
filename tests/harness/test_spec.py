"""Suite specs: declared once, torch-free, enforced when a suite records, and found through the registry."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ebmbench.records import Record
from ebmbench.registries import SPECS, SUITES, suite_spec, suite_specs
from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance
from ebmbench.suite import Suite
from ebmbench.summary import summary_table


def test_every_builtin_suite_is_found_with_its_spec_and_implementation() -> None:
    names = {spec.name for spec in suite_specs()}
    assert {"energy", "ood", "quality", "robustness"} <= names
    for name in names:
        cls = SUITES.get(name)
        assert cls.spec is suite_spec(name)  # the class takes its facts from the spec, not from a copy
        assert (cls.name, cls.version, cls.headline) == (name, cls.spec.version, cls.spec.headline)


def test_reading_specs_and_reports_meta_imports_no_torch() -> None:
    code = ("import sys; from ebmbench.registries import suite_specs; from ebmbench.reports import meta; "
            "specs = suite_specs(); meta.meta(); assert 'torch' not in sys.modules, 'torch imported'; "
            "print(len(specs))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 4


def test_spec_refuses_a_headline_it_does_not_declare_and_duplicate_metrics() -> None:
    with pytest.raises(ValueError, match="headline"):
        SuiteSpec("s", "1", "", (Metric("a", True),), headline="b")
    with pytest.raises(ValueError, match="twice"):
        SuiteSpec("s", "1", "", (Metric("a", True), Metric("a", False)), headline="a")
    with pytest.raises(ValueError, match="aggregation"):
        Metric("a", True, aggregation="sum")  # type: ignore[arg-type]


def test_metric_tolerance_overrides_the_suites_and_aggregation_combines_seeds() -> None:
    spec = SuiteSpec("s", "1", "", (Metric("a", True, tolerance=Tolerance(abs=0.5)),
                                    Metric("b", False, aggregation="median")), headline="a",
                     tolerance=Tolerance(rel=0.2))
    assert spec.tolerance_for("a") == Tolerance(abs=0.5)
    assert spec.tolerance_for("b") == Tolerance(rel=0.2)
    assert spec.metric("b").aggregate([1.0, 2.0, 10.0]) == 2.0
    assert spec.metric("a").aggregate([1.0, 2.0, 10.0]) == pytest.approx(13 / 3)


class _Toy(Suite):
    spec = SuiteSpec("toy", "3", "a toy", (Metric("up", True), Metric("down", False)), headline="down")
    Options = dict


def test_record_takes_direction_from_the_spec_and_refuses_undeclared_or_contradicting_metrics(tmp_path) -> None:
    from types import SimpleNamespace

    ctx = SimpleNamespace(model_name="m", dataset="digits", seed=1)
    suite = _Toy({})
    assert (_Toy.name, _Toy.version, _Toy.headline) == ("toy", "3", "down")
    r = suite.record(ctx, "down", 1.0, "test")
    assert (r.suite, r.suite_version, r.higher_is_better) == ("toy", "3", False)
    with pytest.raises(ValueError, match="does not declare"):
        suite.record(ctx, "sideways", 1.0, "test")
    with pytest.raises(ValueError, match="spec says False"):
        suite.record(ctx, "down", 1.0, "test", higher_is_better=True)


@pytest.fixture
def toy_spec(monkeypatch: pytest.MonkeyPatch) -> SuiteSpec:
    """A suite spec registered for one test: declared once, it must reach every reader."""
    spec = SuiteSpec("toy", "1", "a toy", (Metric("loss", False, "Loss", tolerance=Tolerance(abs=0.25)),
                                           Metric("gain", True, aggregation="median")),
                     headline="gain", qualifiers=(Qualifier("temp", "T", place="row"),
                                                  Qualifier("probe", "probe", place="column"),
                                                  Qualifier("net", "network", must_agree=True)),
                     tolerance=Tolerance(rel=0.5))
    SPECS.names()  # discovery first, so the toy entry is not overwritten
    monkeypatch.setitem(SPECS._entries, "toy", spec)
    return spec


def test_a_declared_spec_reaches_summary_tolerances_and_report_meta(toy_spec: SuiteSpec) -> None:
    from ebmbench.reports import meta
    from ebmbench.reports.tolerances import Tolerances

    line = summary_table([Record("toy", "1", "m", "d", "e", "loss", 1.0, extra={"temp": 2.0, "other": 1})])
    assert "temp=2" in line and "other" not in line
    assert Tolerances().get("toy", "loss") == Tolerance(abs=0.25)
    assert Tolerances().get("toy", "gain") == Tolerance(rel=0.5)
    assert meta.direction("toy", "loss", None) is False and meta.direction("toy", "loss", True) is True
    assert meta.headline("toy") == "gain"
    assert "temp" in meta.row_meta() and "probe" in meta.column_meta() and "net" in meta.comparability()
    assert meta.meta_label("temp") == "T"


def test_a_setting_qualifier_cannot_be_one_that_compare_must_match() -> None:
    with pytest.raises(ValueError, match="must_agree needs place"):
        Qualifier("protocol", place="setting", must_agree=True)
    assert Qualifier("extractor", place="row", must_agree=True).must_agree
