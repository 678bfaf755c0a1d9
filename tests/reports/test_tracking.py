"""``report --to mlflow``: logged to a real local MLflow store and read back with MLflow's own client."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ebmbench.reports.cli import report

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'ebmbench[mlflow]')")


def test_runs_are_logged_with_records_parameters_and_artifacts(make_run, record, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    run = make_run("ood", [record(value=0.91, ci_low=0.89, ci_high=0.93, extra={"score": "energy"}),
                           record(metric="fpr95", value=0.12, extra={"score": "energy"})],
                   options={"n": 300, "sets": ["uniform"]})
    (run / "hist").mkdir()
    (run / "hist" / "uniform.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    store = tmp_path / "store"
    result = CliRunner().invoke(report, [str(run), "--to", "mlflow", "--tracking-uri", store.as_uri()])
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("ebmbench")
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.status == "FINISHED" and logged.data.tags["ebmbench.suite"] == "ood"
    assert logged.data.metrics["ebm.auroc.uniform.score_energy"] == pytest.approx(0.91)
    assert logged.data.metrics["ebm.auroc.uniform.score_energy.ci_low"] == pytest.approx(0.89)
    assert logged.data.metrics["ebm.fpr95.uniform.score_energy"] == pytest.approx(0.12)
    assert logged.data.params["option.n"] == "300" and logged.data.params["seed"] == "0"
    names = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"manifest.json", "results.jsonl", "hist", "ebmbench_records.json"} <= names
    assert [a.path for a in client.list_artifacts(logged.info.run_id, "hist")] == ["hist/uniform.png"]
    again = CliRunner().invoke(report, [str(run), "--to", "mlflow", "--tracking-uri", store.as_uri()])
    assert again.exit_code == 0 and "already logged" in again.output
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_default_store_is_mlruns_in_the_working_directory(make_run, record, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    run = make_run("r", [record()])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(report, [str(run), "--to", "mlflow"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mlruns").is_dir()
