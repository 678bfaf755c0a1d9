"""The ``report`` command group: default to tables, every format to a file, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebmbench.cli import main
from ebmbench.reports.cli import report


@pytest.mark.parametrize(("fmt", "check"), [("md", lambda t: t.startswith("# ebmbench report")),
                                            ("latex", lambda t: r"\begin{tabular}" in t),
                                            ("csv", lambda t: t.startswith("table,metric,eval set")),
                                            ("html", lambda t: "<table" in t and "<script>" in t),
                                            ("json", lambda t: json.loads(t)["tables"][0]["columns"] == ["ebm"])])
def test_report_writes_each_format(make_run, record, tmp_path: Path, fmt: str, check) -> None:
    run = make_run("r", [record()])
    out = tmp_path / f"report.{fmt}"
    result = CliRunner().invoke(report, [str(run), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert check(out.read_text())


def test_report_defaults_to_tables_and_keeps_subcommands(make_run, record) -> None:
    run = str(make_run("r", [record(seed=0), record(seed=1)]))
    runner = CliRunner()
    plain, explicit = runner.invoke(report, [run]), runner.invoke(report, ["tables", run])
    assert plain.exit_code == 0 and plain.output == explicit.output and "OOD detection: AUROC" in plain.output
    merged = runner.invoke(report, ["--aggregate-seeds", "--layout", "generic", run])
    assert merged.exit_code == 0 and "ebm (2 seeds)" in merged.output
    assert "paper" in runner.invoke(report, ["--help"]).output


def test_report_errors_are_one_line_with_exit_code_2(tmp_path: Path, make_run, record) -> None:
    result = CliRunner().invoke(report, [str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and result.output.strip().startswith("error:") and result.output.count("\n") == 1
    run = make_run("r", [record()])
    (run / "results.jsonl").write_text("garbage\n")
    result = CliRunner().invoke(report, ["paper", str(run)])
    assert result.exit_code == 2 and "corrupt" in result.output
    result = CliRunner().invoke(main, ["report", "tabels", str(run)])
    assert result.exit_code == 2 and "did you mean `report tables`?" in result.output
