"""``report``: every format, the Markdown round trip, balanced LaTeX, best marks, metadata, seed aggregation."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from pathlib import Path

import pytest

from ebmbench.records import Record
from ebmbench.reports.cells import Cell, Row, mark_best
from ebmbench.reports.load import load_runs
from ebmbench.reports.report import render_report, report_tables, write_reports

NUMBER = re.compile(r"^(?:\*\*)?(-?\d+(?:\.\d+)?)(?: ± (\d+(?:\.\d+)?))?(?:\*\*)?$")
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJ"
                       "RU5ErkJggg==")


@pytest.fixture
def runs(make_run, record) -> list[Path]:
    ood = [record(value=0.91, ci_low=0.89, ci_high=0.93, extra={"score": "-E(x)"}),
           record(model="glow", value=0.75, extra={"score": "log p(x)"}),
           record(metric="fpr95", value=0.12, extra={"score": "-E(x)"}),
           record(model="glow", metric="fpr95", value=0.4, extra={"score": "log p(x)"}),
           record(eval_set="average", value=0.8, extra={"score": "-E(x)"})]
    quality = [record(suite="quality", eval_set="samples", metric=m, value=v, extra={"extractor": "digits-cnn",
                                                                                    "steps": s})
               for s in (80, 10) for m, v in (("inception_score", 5.5 + s / 100), ("fid", 40.58 - s / 10))]
    a = make_run("ood", ood)
    (a / "ood_hist.png").write_bytes(PNG)
    return [a, make_run("quality", quality)]


def test_markdown_parses_back_to_the_same_numbers(runs: list[Path], md_tables) -> None:
    frame = load_runs(runs).frame
    tables = md_tables(render_report(load_runs(runs), "md", layout="generic"))
    header, rows = tables["ood (v1) on digits"]
    assert header == ["metric", "eval set", "ebm [-E(x)]", "glow [log p(x)]"]
    seen = 0
    for labels_and_cells in rows:
        metric, eval_set = labels_and_cells[0].split()[0], labels_and_cells[1]
        for column, text in zip(header[2:], labels_and_cells[2:], strict=True):
            if text == "–":
                continue
            value, pm = NUMBER.match(text).groups()
            model = column.split()[0]
            want = frame[(frame["model"] == model) & (frame["metric"] == metric) & (frame["eval_set"] == eval_set)]
            exact = want.iloc[0]
            assert float(value) == pytest.approx(exact["value"], abs=0.5 * 10 ** -len(value.split(".")[1]))
            has_ci = not math.isnan(exact["ci_low"])
            assert (pm is not None) == has_ci
            if has_ci:
                assert float(pm) == pytest.approx((exact["ci_high"] - exact["ci_low"]) / 2, abs=1e-4)
            seen += 1
    assert seen == 5


def test_headline_first_arrows_best_marks_and_metadata_columns(runs: list[Path], md_tables) -> None:
    md = render_report(load_runs(runs), "md", layout="generic")
    tables = md_tables(md)
    ood_rows = tables["ood (v1) on digits"][1]
    assert [r[:2] for r in ood_rows] == [["auroc ↑", "uniform"], ["auroc ↑", "average"], ["fpr95 ↓", "uniform"]]
    assert ood_rows[0][2].startswith("**0.9100") and not ood_rows[0][3].startswith("**")  # higher is better
    assert ood_rows[2][2] == "**0.1200**" and ood_rows[2][3] == "0.4000"  # lower is better
    header, q_rows = tables["quality (v1) on digits"]
    assert header[:4] == ["metric", "eval set", "extractor", "steps"]
    assert [r[:4] for r in q_rows] == [["fid ↓", "samples", "digits-cnn", "10"],
                                       ["fid ↓", "samples", "digits-cnn", "80"],
                                       ["inception_score ↑", "samples", "digits-cnn", "10"],
                                       ["inception_score ↑", "samples", "digits-cnn", "80"]]
    assert "Headline metric: fid" in md


def test_best_needs_a_direction_and_two_numbers() -> None:
    row = Row(labels=["energy_mean"], cells=[Cell(1.0), Cell(2.0)], higher_is_better=None)
    mark_best(row)
    assert not any(c.best for c in row.cells)
    row = Row(labels=["fid"], cells=[Cell(3.0), Cell(), Cell(2.0), Cell(2.0)], higher_is_better=False)
    mark_best(row)
    assert [c.best for c in row.cells] == [False, False, True, True]


def test_latex_is_booktabs_and_balanced(runs: list[Path], balanced_latex) -> None:
    tex = render_report(load_runs(runs), "latex", layout="generic")
    balanced_latex(tex)
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == tex.count(r"\begin{tabular}") == 2
    assert r"$\mathbf{0.9100 \pm 0.0200}$" in tex and r"auroc $\uparrow$" in tex and r"fpr95 $\downarrow$" in tex


def test_latex_escapes_specials(make_run, record, balanced_latex) -> None:
    tex = render_report(load_runs([make_run("s", [record(model="m_1 & 50%", eval_set="a#b")])]), "latex")
    balanced_latex(tex)
    assert r"m\_1 \& 50\%" in tex and r"a\#b" in tex


def test_csv_and_json_carry_full_precision(make_run, record) -> None:
    path = make_run("p", [record(value=0.123456789, ci_low=0.1, ci_high=0.15), record(model="b", value=0.2)])
    rows = list(csv.DictReader(io.StringIO(render_report(load_runs([path]), "csv"))))
    assert {(r["column"], float(r["value"]), r["best"]) for r in rows} == {("ebm", 0.123456789, "False"),
                                                                            ("b", 0.2, "True")}
    assert float(rows[0]["pm"]) == pytest.approx(0.025)
    doc = json.loads(render_report(load_runs([path]), "json"))
    cells = doc["tables"][0]["rows"][0]["cells"]
    assert [c["value"] for c in cells] == [0.123456789, 0.2] and doc["runs"][0]["status"] == "complete"


def test_html_is_self_contained_with_tables_and_plots(runs: list[Path]) -> None:
    page = render_report(load_runs(runs), "html", layout="generic")
    assert page.startswith("<!DOCTYPE html>") and page.count("<table>") == 2
    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing fetched from outside


def test_incomplete_runs_are_flagged(make_run, record) -> None:
    md = render_report(load_runs([make_run("f", [record()], status="failed: out of memory")]), "md")
    assert "did not complete (status: failed: out of memory)" in md


def test_a_run_that_failed_before_any_record_still_names_its_suite(make_run, tmp_path: Path) -> None:
    good = make_run("ok", [Record("ood", "1", "ebm", "digits", "uniform", "auroc", 0.9)])
    failed = make_run("early", [], status="failed: no data")
    md = render_report(load_runs([good, failed]), "md")
    line = next(row for row in md.splitlines() if "early`" in row)
    assert ": ood; model ebm" in line and "did not complete" in md


def test_seeds_are_columns_unless_aggregated(make_run, record) -> None:
    paths = [make_run(f"s{s}", [record(value=v, seed=s)], seed=s) for s, v in ((0, 0.80), (1, 0.90), (2, 0.85))]
    table = report_tables(load_runs(paths))[0]
    assert table.columns == ["ebm seed 0", "ebm seed 1", "ebm seed 2"]
    merged = report_tables(load_runs(paths), aggregate=True)[0]
    assert merged.columns == ["ebm (3 seeds)"]
    cell = merged.rows[0].cells[0]
    assert cell.value == pytest.approx(0.85) and cell.pm == pytest.approx(0.05)  # sample standard deviation


def test_different_configurations_are_never_merged(make_run, record) -> None:
    paths = [make_run("a", [record(value=0.8)], options={"n": 10}),
             make_run("b", [record(value=0.9, seed=1)], seed=1, options={"n": 1000})]
    merged = report_tables(load_runs(paths), aggregate=True)[0]
    assert len(merged.columns) == 2 and all("seeds" not in c for c in merged.columns)


def test_write_reports_writes_markdown_and_html(runs: list[Path], tmp_path: Path) -> None:
    written = write_reports(runs, tmp_path / "out")
    assert written["md"].read_text().startswith("# ebmbench report")
    assert '<section id="summary">' in written["html"].read_text()
